# Formation calls per hour for a busy day of 12 real processes (2 web
# processes enqueuing uneven bursts, 10 workers working them off and
# enqueuing follow-up jobs), all on one SQLite job table: once with the
# coordination store installed (the app decides with one voice), once
# without (each process decides alone). Heroku's API budget is the
# account's: 4,500 calls an hour at most, refilled at ~75 a minute.
#
# Time is compressed 10x (API_THROTTLE 1 s for the default 10 s, jobs and
# pauses a tenth as long), so each 60 s run stands for 10 minutes of the day.
#
#   ruby bench/api_budget.rb            # SECONDS=60 by default
require_relative "setup"
require "json"
require "rbconfig"

SECONDS = Integer(ENV.fetch("SECONDS", "60"))
COMPRESSION = 10
THROTTLE = 10.0 / COMPRESSION
LIB = File.expand_path("../lib", __dir__)
DEMO = File.expand_path("../demo", __dir__)

def process_script(database, role, index, seconds)
  <<~RUBY
    $LOAD_PATH.unshift #{LIB.inspect}, #{DEMO.inspect}
    require "database"
    DemoDatabase.connect(#{database.inspect})
    require "middle_management"
    MiddleManagement.configure { |c| c.logger = Logger.new(nil) }
    random = Random.new(#{index})
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + #{seconds}
    # A job that sometimes enqueues a follow-up, as apps' jobs do.
    if #{role == :worker}
      MiddleManagement.watch
      worker = Delayed::Worker.new(quiet: true)
      worker.name = "worker.#{index}"
      while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
        done = worker.work_off(1).sum
        MiddleManagement::Slacker.delay.slack_for(0.05) if done.positive? && random.rand < 0.1
        sleep 0.05 if done.zero?
      end
    else
      while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
        sleep random.rand(0.2..3.0)                     # quiet, then a burst
        random.rand(1..25).times { MiddleManagement::Slacker.delay.slack_for(random.rand(0.02..0.4)) }
      end
    end
  RUBY
end

def run(store:)
  database = File.join(Dir.mktmpdir("mm-api-budget"), "jobs.sqlite3")
  DemoDatabase.connect(database, create: true, store: store)
  heroku = Bench.heroku
  env = Bench.vars(heroku, "API_THROTTLE" => THROTTLE, "MAX_WORKERS" => 10, "JOBS_PER_WORKER" => 3,
                           "COUNT_INTERVAL" => 60.0 / COMPRESSION, "CHANGES_PER_HOUR" => 60 * COMPRESSION)
  roles = [:web, :web] + [:worker] * 10
  pids = roles.each_with_index.map do |role, i|
    Process.spawn(env, RbConfig.ruby, "-e", process_script(database, role, i + 1, SECONDS), out: File::NULL,
                                                                                       err: File::NULL)
  end
  started = Time.now
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + SECONDS + 30
  pids.each do |pid|
    sleep 0.1 until Process.wait(pid, Process::WNOHANG) || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
  end
  calls = heroku.patches.select { |patch| patch.status == 200 }.map(&:at)
  windows = calls.each_cons(2).map { |a, b| b - a }
  busiest = calls.map { |t| calls.count { |u| u >= t && u < t + 60.0 / COMPRESSION } }.max || 0
  { calls: calls.size, per_hour: calls.size * 3600 / (SECONDS * COMPRESSION), closest: windows.min,
    busiest_minute: busiest, elapsed: Time.now - started }
ensure
  pids&.each do |pid|
    Process.kill("KILL", pid)
    Process.wait(pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end
  heroku&.stop
end

with = run(store: true)
without = run(store: false)
puts format("api budget, 12 processes (2 web, 10 workers), %d s run = %d min of a busy day at API_THROTTLE 10 s:",
            SECONDS, SECONDS * COMPRESSION / 60)
[["with the store (one voice)", with], ["without it (each process alone)", without]].each do |label, r|
  puts format("  %-34s %4d formation calls = %5d per hour; at most %d in a minute; closest two %.1f s apart (day time)",
              label, r[:calls], r[:per_hour], r[:busiest_minute], (r[:closest] || Float::INFINITY) * COMPRESSION)
end
ok = with[:closest].nil? || with[:closest] >= THROTTLE - 0.05
puts format("  goal: one voice never makes two calls within one throttle window: %s", ok ? "met" : "MISSED")
