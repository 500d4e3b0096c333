# What one count costs for GoodJob and Solid Queue at 1,000 to 1,000,000
# runnable jobs, each beside as many finished ones and a tenth as many
# scheduled ahead, with a few running: the count a decision runs (capped at
# MAX_WORKERS=10 × JOBS_PER_WORKER=10 + 1 = 101, see Policy::count_cap) and,
# beside it, the exact count `MiddleManagement.status(exact: true)` runs.
# GoodJob on a throwaway PostgreSQL (as GoodJob needs), Solid Queue on it
# and on SQLite; the tables are the specs' own, from each library's
# published schema (spec/support/good_job_schema.rb, solid_queue_schema.rb).
#
#   ruby bench/count_cost_active_job.rb      # SIZES=1000,10000,100000,1000000
require_relative "setup"
$LOAD_PATH.unshift File.expand_path("../spec/support", __dir__)
require "deadlines"
require "child_process"
require "postgres_server"
require "good_job_schema"
require "solid_queue_schema"
require_relative "count_cost/active_job_fill"
require "middle_management"

SIZES = ENV.fetch("SIZES", "1000,10000,100000,1000000").split(",").map { |size| Integer(size) }
CAP = 101
RUNS = 7 # per size and count: the median is reported
POOL = MiddleManagement::Configuration::Pool.new("worker")

def ms
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  yield
  (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
end

def median(&block) = Bench.median(Array.new(RUNS) { ms(&block) })

def good_job_counts(model)
  conn = model.connection
  queues = ->(column) { MiddleManagement::Backends::GoodJob.queue_condition(conn, POOL, column) }
  heartbeats = MiddleManagement::Store::Heartbeats.new(model)
  count = ->(cap) { MiddleManagement::Backends::GoodJob::Counting.count(conn, queues, cap, heartbeats: heartbeats) }
  [count.call(CAP), median { count.call(CAP) }, median { count.call(nil) }]
end

def solid_queue_counts(model)
  backend = MiddleManagement::Backends::SolidQueue
  backend.model = model
  [backend.count(POOL, cap: CAP), median { backend.count(POOL, cap: CAP) }, median { backend.count(POOL) }]
ensure
  backend.model = nil
end

def measure(library, database, model, size)
  filled = ms { ActiveJobFill.public_send(library, model, size) }
  counts, capped, exact = library == :good_job ? good_job_counts(model) : solid_queue_counts(model)
  warn format("  %-11s %-10s %9d jobs: %.2f ms (filled in %.0f s)", library, database, size, capped, filled / 1000)
  { library: library, database: database, size: size, capped: capped, exact: exact, counts: counts }
end

def database_model(config)
  Class.new(ActiveRecord::Base) do
    self.abstract_class = true
    define_singleton_method(:name) { "BenchJobsDatabase" }
    establish_connection(config)
  end
end

rows = []
if PostgresServer.available?
  server = PostgresServer.start
  begin
    model = database_model(server.config(pool: 5))
    GoodJobSchema.define(model)
    SolidQueueSchema.define(model)
    MiddleManagement::Store::SQL.new(model).install
    SIZES.each { |size| rows << measure(:good_job, "PostgreSQL", model, size) }
    SIZES.each { |size| rows << measure(:solid_queue, "PostgreSQL", model, size) }
  ensure
    model&.remove_connection
    server.stop
  end
else
  warn "PostgreSQL is not installed (#{PostgresServer::BIN}, ruby-pg): Solid Queue on SQLite only"
end
model = database_model(adapter: "sqlite3", database: File.join(Dir.mktmpdir("mm-bench"), "queue.sqlite3"), timeout: 5_000)
SolidQueueSchema.define(model)
SIZES.each { |size| rows << measure(:solid_queue, "SQLite", model, size) }

puts "One count of a pool, capped as a decision counts (cap #{CAP}) and exact (status(exact: true))"
puts "(median of #{RUNS}; each size beside as many finished jobs, a tenth as many scheduled ahead, 3 running)"
puts
puts format("%-11s | %-10s | %10s | %12s | %12s | %s", "library", "database", "runnable", "capped", "exact", "counted")
puts "-" * 90
rows.each do |row|
  c = row[:counts]
  puts format("%-11s | %-10s | %10d | %9.2f ms | %9.2f ms | %s", row[:library], row[:database], row[:size],
              row[:capped], row[:exact], "runnable #{c.runnable}#{"+" if c.capped}, running #{c.running}, " \
                                         "next in #{c.next_run_in&.round} s")
end
