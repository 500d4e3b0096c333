# Enqueue throughput without the gem, with it (default settings), with it
# while Heroku takes 2 s to answer every call (goal: within 5% of the
# throughput without it), and with the most eager settings (throttle 0,
# count interval 0) for comparison.
# Each measurement is a fresh process enqueuing JOBS Delayed Job jobs into
# SQLite; the fake Heroku runs in this parent process.
#
#   ruby bench/enqueue_overhead.rb
require_relative "setup"
require "open3"
require "json"

JOBS = 3_000
ROUNDS = (ENV["ROUNDS"] || 7).to_i

# The job enqueued: the same with and without the gem loaded.
BenchJob = Struct.new(:seconds) do
  def perform = sleep(seconds)
end

if ARGV.first == "--child"
  Bench.database
  require "middle_management" if ENV["MIDDLE_MANAGEMENT_HEROKU_APP"]
  Delayed::Job.enqueue(BenchJob.new(1)) # the first enqueue starts the dispatcher: outside the timing
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  JOBS.times { Delayed::Job.enqueue(BenchJob.new(1)) }
  took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  puts JSON.dump(rate: JOBS / took)
  $stdout.flush
  exit!(0) # skip the at-exit flush: a 2 s Heroku would only delay this process's end
end

fast = Bench.heroku
slow = Bench.heroku
slow.delay(2.0)
modes = {
  "without the gem" => {},
  "with the gem" => Bench.vars(fast),
  "with the gem, Heroku taking 2 s a call" => Bench.vars(slow),
  "with the gem, counting at every change" => Bench.vars(fast, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0)
}
rates = modes.keys.to_h { |mode| [mode, []] }
ROUNDS.times do
  modes.each do |mode, vars|
    output, status = Open3.capture2(vars, RbConfig.ruby, __FILE__, "--child")
    status.success? or abort("#{mode}: #{output}")
    rates[mode] << JSON.parse(output.lines.last)["rate"]
  end
end
fast.stop
slow.stop

base = Bench.median(rates["without the gem"])
rates.each do |mode, values|
  rate = Bench.median(values)
  overhead = (base - rate) / base * 100
  line = format("enqueue throughput %-40s median %6.0f jobs/s", mode, rate)
  warn values.map(&:round).sort.inspect if ENV["VERBOSE"]
  line += format(" (%+.1f%% overhead; goal <= 5%%: %s)", overhead, overhead <= 5 ? "met" : "MISSED") unless values.equal?(rates["without the gem"])
  puts line
end
puts format("formation calls made while measuring: %d (fast Heroku), %d (slow Heroku)", fast.patches.size,
            slow.patches.size)
