# The Redis side of bench/count_cost.rb: one decision's time (wake to the
# flush returning: the lease, Sidekiq's counts, the record) and the count's
# alone, for Sidekiq at 1,000 to 1,000,000 queued jobs beside a tenth as
# many retries due later, on a throwaway redis-server, MAX_WORKERS=10. The
# counts are LLEN, ZCOUNT and the process heartbeats: flat in the backlog.
#
#   ruby bench/count_cost_redis.rb      # SIZES=1000,10000,100000,1000000
require_relative "setup"
$LOAD_PATH.unshift File.expand_path("../spec/support", __dir__)
require "deadlines"
require "child_process"
require "redis_server"
require "sidekiq"
require "sidekiq/api"
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
require "middle_management"

SIZES = ENV.fetch("SIZES", "1000,10000,100000,1000000").split(",").map { |size| Integer(size) }
RUNS = 7
BATCH = 10_000

def ms = Process.clock_gettime(Process::CLOCK_MONOTONIC) * 1000

def fill(redis, size)
  redis.flushall
  redis.sadd("queues", "default")
  payload = { "class" => "BenchJob", "args" => [1], "queue" => "default", "jid" => "j" }.to_json
  (size / BATCH.to_f).ceil.times do |batch|
    count = [BATCH, size - batch * BATCH].min
    redis.pipelined { |p| count.times { p.lpush("queue:default", payload) } }
  end
  later = Time.now.to_f + 3600
  (size / 10).times.each_slice(BATCH) do |slice|
    redis.pipelined { |p| slice.each { |i| p.zadd("retry", (later + i).to_s, payload.sub('"j"', "\"r#{i}\"")) } }
  end
end

def measure(server, redis, size)
  fill(redis, size)
  heroku = Bench.heroku
  Bench.boot(Bench.vars(heroku, "JOBS_PER_WORKER" => 10, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0))
  agent = MiddleManagement.agent
  agent.backends.select! { |backend| backend.equal?(MiddleManagement::Backends::Sidekiq) }
  MiddleManagement.flush(10) if agent.decide_now(10)
  pool = agent.pools.first
  decisions = Array.new(RUNS) do
    started = ms
    agent.wake("default")
    MiddleManagement.flush(10) or abort "no decision within 10 s at #{size} jobs"
    ms - started
  end
  counts = Array.new(RUNS) do
    started = ms
    agent.count(pool, cap: 101)
    ms - started
  end
  { size: size, decision: Bench.median(decisions), count: Bench.median(counts), formation: heroku.quantity("worker") }
ensure
  MiddleManagement.reset!
  heroku&.stop
end

server = RedisServer.start
begin
  Sidekiq.configure_client { |config| config.redis = { url: server.url } }
  redis = Redis.new(url: server.url)
  rows = SIZES.map { |size| measure(server, redis, size).tap { |row| warn format("  %9d jobs: %.2f ms", size, row[:decision]) } }
ensure
  redis&.close
  server.stop
end

puts "Redis time of one decision, Sidekiq #{Sidekiq::VERSION}, MAX_WORKERS=10, JOBS_PER_WORKER=10 (median of #{RUNS})"
puts format("%10s | %14s | %12s | %9s", "queued", "decision", "count alone", "formation")
puts "-" * 54
rows.each { |row| puts format("%10d | %11.2f ms | %9.2f ms | %9d", row[:size], row[:decision], row[:count], row[:formation]) }
