# The SQL time of one decision (every sql.active_record event from taking
# the lease to releasing it, summed: the claim, the counts, the settle) for
# Delayed Job at 1,000 to 1,000,000 runnable jobs, each beside as many
# failed rows and a tenth as many jobs scheduled ahead, with delayed_job's
# own migration plus the store's install (its indexes), MAX_WORKERS=10 and
# JOBS_PER_WORKER=10: the decision sees 101 jobs at most, so it should cost
# the same at every size. Beside it, what the exact count (the old way, all
# runnable jobs) takes. On a throwaway PostgreSQL cluster and on SQLite.
#
#   ruby bench/count_cost.rb            # SIZES=1000,10000,100000,1000000
#   JOBS_PER_WORKER=auto ruby bench/count_cost.rb   # the default: counts up to MAX_WORKERS × 1,000 + 1
require_relative "setup"
$LOAD_PATH.unshift File.expand_path("../spec/support", __dir__)
require "deadlines"
require "child_process"
require "postgres_server"
require_relative "count_cost/fill"
require "middle_management"

SIZES = ENV.fetch("SIZES", "1000,10000,100000,1000000").split(",").map { |size| Integer(size) }
JOBS_PER_WORKER = ENV.fetch("JOBS_PER_WORKER", "10")
DECISIONS = 7 # per size: the median is reported

# ms of SQL the coordinator thread (the gem's) runs inside the block, and
# how many statements.
def gem_sql
  main = Thread.current
  durations = []
  subscriber = ActiveSupport::Notifications.subscribe("sql.active_record") do |_name, start, finish, _id, payload|
    durations << (finish - start) * 1000 unless Thread.current == main || payload[:name] == "SCHEMA"
  end
  yield
  [durations.sum, durations.size]
ensure
  ActiveSupport::Notifications.unsubscribe(subscriber)
end

def exact_count_ms
  pool = MiddleManagement.configuration.pools.first
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  MiddleManagement::Backends::DelayedJob.count(pool)
  (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
end

def measure(database, size)
  fill_started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  CountCostFill.fill(ActiveRecord::Base.connection, size)
  filled_in = Process.clock_gettime(Process::CLOCK_MONOTONIC) - fill_started
  heroku = Bench.heroku
  Bench.boot(Bench.vars(heroku, "JOBS_PER_WORKER" => JOBS_PER_WORKER, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0))
  MiddleManagement.watch # a long-running process decides at boot: sets the formation, reads the schema once
  MiddleManagement.flush(10)
  formation = heroku.quantity("worker")
  runs = Array.new(DECISIONS) do
    gem_sql do
      MiddleManagement.agent.wake("default")
      MiddleManagement.flush(10) or abort "no decision within 10 s at #{size} jobs"
    end
  end
  ms, statements = runs.sort_by(&:first)[runs.size / 2]
  exact = Bench.median(Array.new(3) { exact_count_ms })
  { database: database, size: size, ms: ms, statements: statements, exact: exact, formation: formation,
    filled_in: filled_in }
ensure
  MiddleManagement.reset!
  heroku&.stop
end

def run_sizes(database)
  SIZES.map { |size| measure(database, size).tap { |row| warn format("  %-10s %9d jobs: %.2f ms", database, size, row[:ms]) } }
end

rows = []
if PostgresServer.available?
  server = PostgresServer.start
  begin
    ActiveRecord::Base.establish_connection(server.config(pool: 5))
    ActiveRecord::Base.logger = nil
    DemoDatabase.define_tables(ActiveRecord::Base)
    rows += run_sizes("PostgreSQL")
  ensure
    ActiveRecord::Base.remove_connection
    server.stop
  end
else
  warn "PostgreSQL is not installed (#{PostgresServer::BIN}, ruby-pg): SQLite only"
end
Bench.database
rows += run_sizes("SQLite")

puts "SQL time of one decision (claim, counts, settle), Delayed Job, MAX_WORKERS=10, JOBS_PER_WORKER=#{JOBS_PER_WORKER}"
puts "(median of #{DECISIONS}; each size beside as many failed jobs and a tenth as many scheduled ahead)"
puts
puts format("%-10s | %10s | %14s | %10s | %16s | %9s", "database", "runnable", "decision SQL", "statements",
            "exact count (old)", "formation")
puts "-" * 86
rows.each do |row|
  puts format("%-10s | %10d | %11.2f ms | %10d | %13.2f ms | %9d", row[:database], row[:size], row[:ms],
              row[:statements], row[:exact], row[:formation])
end
