# Memory stays bounded however many wake-ups an app makes (issue 23, item 7;
# goal: RSS growth within 20 MB, "flat"):
#
#   (a) 1,000,000 wake-ups on distinct queue names ("queue-0", "queue-1", …)
#       with two pools configured, so that every one looks up its queue's
#       pool. The agent remembers at most 1,000 names; before, it kept every
#       name ever seen (38 -> 289 MB).
#   (b) 3,000,000 wake-ups while the app's window is closed (API_THROTTLE=1h,
#       COUNT_INTERVAL=0, one decision already made), when no decision may
#       run and wake-ups wait. The native side folds them into a counter per
#       pool; before, each queued a message of its own (38 -> 409 MB).
#
# Each scenario runs in a fresh process, so that one's heap does not pad the
# other's baseline; the fake Heroku runs in this parent process, outside the
# RSS measured. RSS is VmRSS from /proc/self/status (Linux), read after
# GC.start so that Ruby's own garbage is not counted as growth.
#
#   ruby bench/memory.rb
require_relative "setup"
require "open3"
require "json"

GOAL_MB = 20
WAKES = { "distinct_queues" => 1_000_000, "window_closed" => 3_000_000 }.freeze

def rss_mb = File.read("/proc/self/status")[/^VmRSS:\s+(\d+) kB/, 1].to_i / 1024.0

def settled_rss_mb
  GC.start
  rss_mb
end

if ARGV.first == "--child"
  scenario = ARGV[1]
  Bench.database
  require "middle_management" # boots from the MIDDLE_MANAGEMENT_* the parent set
  MiddleManagement.configuration.logger = Logger.new(nil)
  wakes = WAKES.fetch(scenario)
  agent = nil
  case scenario
  when "distinct_queues"
    # A second pool: with one pool every queue maps to it and the lookup
    # (and its cache) is skipped.
    MiddleManagement.configure { |c| c.pool "urgent_worker", queues: %w[mailers], max: 2, jobs_per_worker: 1 }
    agent = MiddleManagement.agent
    agent.wake("mailers") # starts the dispatcher and coordinator: outside the measurement
    MiddleManagement.flush(5)
    before = settled_rss_mb
    wakes.times { |i| agent.wake("queue-#{i}") }
  when "window_closed"
    agent = MiddleManagement.agent
    # One decision, sent and answered: the 1 h throttle window is now
    # closed, so every wake-up below finds no decision it may make.
    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    before = settled_rss_mb
    wakes.times { agent.wake("default") }
  end
  sleep 1 # let the dispatcher's thread take in what it was handed
  after = settled_rss_mb
  remembered = agent.instance_variable_get(:@queue_pools)&.size # the agent's queue -> pool cache
  warn MiddleManagement.status.inspect if ENV["VERBOSE"] # shows the dispatcher was up (and, in (b), the one call)
  puts JSON.dump(before: before, after: after, remembered: remembered)
  $stdout.flush
  exit!(0) # skip the at-exit flush: the closed window would only delay this process's end
end

results = WAKES.keys.to_h do |scenario|
  heroku = Bench.heroku({ "worker" => 0, "urgent_worker" => 0 })
  extra = scenario == "window_closed" ? { "API_THROTTLE" => "1h", "COUNT_INTERVAL" => 0 } : {}
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  output, status = Open3.capture2(Bench.vars(heroku, extra), RbConfig.ruby, __FILE__, "--child", scenario)
  took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  status.success? or abort("#{scenario}: #{output}")
  heroku.stop
  [scenario, JSON.parse(output.lines.last).merge("took" => took, "calls" => heroku.patches.size)]
end

labels = { "distinct_queues" => "1,000,000 wake-ups on distinct queue names, two pools",
           "window_closed" => "3,000,000 wake-ups with the window closed (API_THROTTLE=1h)" }
results.each do |scenario, r|
  growth = r["after"] - r["before"]
  extra = if scenario == "distinct_queues"
            format("%d queue names remembered", r["remembered"])
          else
            format("%d formation call%s (the one before the window closed)", r["calls"], r["calls"] == 1 ? "" : "s")
          end
  puts format("memory: %-62s RSS %.1f -> %.1f MB (%+.1f MB; %s); %s; %.1f s; goal within %d MB: %s",
              labels[scenario], r["before"], r["after"], growth, growth.abs <= GOAL_MB ? "flat" : "GROWS",
              extra, r["took"], GOAL_MB, growth.abs <= GOAL_MB ? "met" : "MISSED")
end
