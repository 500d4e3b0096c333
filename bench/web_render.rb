# How long the page takes to render on the server with a full week of
# history: a look a minute for 3 pools (30,240 samples) and a change every
# half hour per pool, read from a store as the page reads it, for the week
# span (the largest chart: downsampled). The goal: under 200 ms.
#
#   ruby bench/web_render.rb                    # the in-memory store (Store::Local), RENDERS=30
#   STORE=postgres ruby bench/web_render.rb     # the SQL store on a throwaway PostgreSQL
$LOAD_PATH.unshift File.expand_path("../lib", __dir__), File.expand_path("../spec/support", __dir__),
                   File.expand_path("../demo", __dir__)
ENV["MIDDLE_MANAGEMENT_HISTORY"] ||= "7d"
require "middle_management"
require "middle_management/web"
require "rack/mock"

RENDERS = Integer(ENV.fetch("RENDERS", "30"))
STORE = ENV.fetch("STORE", "local")
POOLS = %w[worker urgent_worker reports].freeze
MINUTE = 60_000
WEEK_MINUTES = 7 * 24 * 60

# The page's data from a store, with a fixed status: what Data::Live reads
# from the agent, without one.
class BenchSource
  def initialize(store, configuration)
    @store = store
    @configuration = configuration
  end

  attr_reader :configuration

  def status
    { enabled: true, store: @store.class.name.split("::").last, rate_limit_remaining: 4321,
      pools: POOLS.map { |name| { name: name, desired: 4, known: 4, runnable: 42, running: 3, busy_dynos: %w[a.1], draining: [] } } }
  end

  def history(pool, since, kinds) = @store.history(pool: pool, since: since, kinds: kinds)
  def measured(_pool) = nil
  def tuning(_pool) = nil
  def now_ms = @store.now_ms
end

def week_of_history(store)
  now = store.now_ms
  POOLS.each do |pool|
    entries = (0...WEEK_MINUTES).map do |minute|
      at = now - ((WEEK_MINUTES - minute) * MINUTE)
      runnable = (Math.sin(minute / 90.0) * 40).round.abs
      sample = MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: :sample, at: at,
                                                         figures: { runnable: runnable, capped: false, running: 2, quantity: (runnable / 10) + 1,
                                                                    needed: (runnable / 10) + 1, oldest_wait: 3.5 })
      next [sample] unless (minute % 30).zero?

      [sample, MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: :change, at: at,
                                                         figures: { from: 2, to: 3, reason: "sized to outstanding jobs", busy: %w[worker.1],
                                                                    draining: [], by: "worker.1:42:abc" })]
    end
    entries.flatten.each_slice(2_000) { |slice| store.record_history(slice) }
  end
end

def open_store
  return [MiddleManagement::Store::Local.new, nil] if STORE == "local"

  require "deadlines"
  require "child_process"
  require "postgres_server"
  require "database"
  server = PostgresServer.start
  ActiveRecord::Base.establish_connection(server.config)
  DemoDatabase.define_tables(ActiveRecord::Base)
  [MiddleManagement::Store::SQL.new(ActiveRecord::Base), server]
end

store, server = open_store
begin
  week_of_history(store)
  config = MiddleManagement::Configuration.from_env("MIDDLE_MANAGEMENT_MAX_WORKERS" => "10")
  POOLS.drop(1).each { |pool| config.pool(pool, queues: [pool], max: 5) }
  source = BenchSource.new(store, config)
  app = MiddleManagement::Web.new(source: source, auth: MiddleManagement::Web::Auth.new(:local, nil), local: true)
  request = Rack::MockRequest.new(app)
  times = Array.new(RENDERS + 3) do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    response = request.get("/?span=week", "SCRIPT_NAME" => "/middle_management")
    raise "status #{response.status}" unless response.status == 200

    @bytes = response.body.bytesize
    (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
  end.drop(3).sort # the first renders warm up
  samples = POOLS.sum { |pool| store.history(pool: pool, since: 0, kinds: [:sample]).size }
  puts format("web_render (%s store): %d samples, %d renders of the week page (%d KB): median %.1f ms, p95 %.1f ms (goal: under 200 ms)",
              STORE, samples, RENDERS, @bytes / 1024, times[times.size / 2], times[(times.size * 0.95).ceil - 1])
ensure
  ActiveRecord::Base.remove_connection if server
  server&.stop
end
