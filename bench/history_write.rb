# The cost of one decision's scaling history on PostgreSQL: 3 pools, so 3
# samples and 1 change, written as Runtime::History writes them (one
# INSERT, in the store's own transaction with its statement time limit),
# on a throwaway cluster with a week of history already in the table (a
# look a minute for 3 pools). Then one prune (the DELETE a process runs
# every few minutes), removing a day of rows past the retention. The goal:
# under 1 ms a decision.
#
#   ruby bench/history_write.rb            # WRITES=2000
require_relative "setup"
$LOAD_PATH.unshift File.expand_path("../spec/support", __dir__)
require "deadlines"
require "child_process"
require "postgres_server"
require "middle_management"

WRITES = Integer(ENV.fetch("WRITES", "2000"))
WARMUP = 200
POOLS = %w[worker urgent_worker reports].freeze
DAY = 86_400_000

abort "PostgreSQL is not installed (#{PostgresServer::BIN}, ruby-pg)" unless PostgresServer.available?

def ms_since(started) = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000

def decision_entries(now)
  samples = POOLS.map do |pool|
    MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: :sample, at: now,
                                              figures: { runnable: 42, capped: false, running: 3, quantity: 4,
                                                         needed: 5, oldest_wait: 12.5 })
  end
  change = MiddleManagement::Store::HistoryEntry.new(
    pool: "worker", kind: :change, at: now,
    figures: { from: 4, to: 5, reason: "sized to outstanding jobs", busy: %w[worker.1 worker.2 worker.3],
               draining: [], by: "worker.1:4242:9f8e7d6c" }
  )
  samples + [change]
end

# A week of a look a minute per pool, and a day more past the retention.
def fill(conn, now)
  conn.execute(<<~SQL)
    INSERT INTO middle_management_history (process_type, kind, at, figures)
    SELECT pool, 'sample', #{now} - minute * 60000,
           '{"runnable":7,"capped":false,"running":2,"quantity":3,"needed":3,"oldest_wait":1.5}'
    FROM unnest(ARRAY#{POOLS.inspect.tr('"', "'")}) AS pool, generate_series(1, 8 * 1440) AS minute
  SQL
  conn.execute("VACUUM ANALYZE middle_management_history")
end

server = PostgresServer.start
begin
  ActiveRecord::Base.establish_connection(server.config(pool: 5))
  ActiveRecord::Base.logger = nil
  store = MiddleManagement::Store::SQL.new(ActiveRecord::Base).install
  now = store.now_ms
  fill(ActiveRecord::Base.connection, now)
  rows = ActiveRecord::Base.connection.select_value("SELECT COUNT(*) FROM middle_management_history")
  WARMUP.times { store.record_history(decision_entries(now)) }
  times = Array.new(WRITES) do
    entries = decision_entries(now)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    store.record_history(entries)
    ms_since(started)
  end
  # The floor: any store call is a transaction with its statement time limit.
  floor = Array.new(WRITES / 4) do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    store.now_ms
    ms_since(started)
  end
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  store.record_history([], prune_before: now - 7 * DAY)
  prune_ms = ms_since(started)
  left = ActiveRecord::Base.connection.select_value("SELECT COUNT(*) FROM middle_management_history")

  puts "History write of one decision (3 samples, 1 change) on PostgreSQL #{ActiveRecord::Base.connection.select_value("SHOW server_version")}"
  puts "(#{WRITES} writes after #{WARMUP} to warm up; #{rows} rows in the table before)"
  puts
  puts format("median %.3f ms | p95 %.3f ms | max %.3f ms", Bench.median(times), Bench.percentile(times, 0.95), times.max)
  puts format("for comparison, reading the store's clock (one SELECT, same transaction): median %.3f ms",
              Bench.median(floor))
  puts format("one prune (a day past the retention, %d rows deleted): %.1f ms", rows + ((WARMUP + WRITES) * 4) - left, prune_ms)
ensure
  ActiveRecord::Base.remove_connection
  server.stop
end
