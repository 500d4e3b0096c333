# `rake middle_management:tune` on each shape of day of bench/traces.rb:
# the day written as the gem writes its history (spec/support/history_day.rb:
# a look at each job's news, a row per worker each minute at its own
# second; 20 dynos served it), the jobs rebuilt from it, the grid replayed
# on them with the gem's defaults as the app's settings (MAX_WORKERS=20),
# and the recommendation checked on the day's true jobs, which the history
# never held: what it saves there, and whether it waits no longer at p95.
# Also how close the rebuild came (jobs, mean duration) and how long a tune
# took.
#
#   ruby bench/tune.rb
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "middle_management/internal/native"
require "middle_management/configuration"
require "middle_management/tuning"
require_relative "traces"
require_relative "../spec/support/history_day"

DAY_MS = 86_400_000
START_MS = 1_800_000_000_000
BOOT = 30 # seconds: the simulator's default, and the day's boots

config = MiddleManagement::Configuration.from_env("MIDDLE_MANAGEMENT_MAX_WORKERS" => "20")
pool = config.pools.first
current = MiddleManagement::Tuning.settings(config, pool)

def true_day(rows)
  jobs = rows.map { |at, duration, run_at| MiddleManagement::Simulation::Trace::Job.new(at, run_at || at, duration, nil) }
  MiddleManagement::Simulation::Trace.of(jobs)
end

def point(report) = format("$%.2f p95 %.0f s", report[:cost], report[:wait_p95])

puts "Tuned on a day of history, the gem's defaults as the app's settings (MAX_WORKERS=20); " \
     "the recommendation checked on the day's true jobs:"
confirmed = 0
traces = Traces.all.merge(Traces.unseen)
traces.each do |name, rows|
  entries = HistoryDay.entries(rows, workers: 20, start_ms: START_MS, boot: BOOT)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  # A day and a half: the days whose last jobs wait for 20 dynos end late.
  now = START_MS + (DAY_MS * 1.5).round
  recommendation = MiddleManagement::Tuning.recommend(config, pool, now_ms: now, days: 1.5) { entries }
  seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  rebuild = recommendation.rebuild
  truth_mean = rows.sum { |row| row[1] } / rows.size
  replay = MiddleManagement::Simulation::Replay.new(true_day(rows), settings: current, boot_time: BOOT)
  yours = replay.call
  puts "  #{name}: rebuilt #{rebuild.trace.jobs.size} of #{rows.size} jobs, mean duration " \
       "#{format("%+.1f%%", ((rebuild.mean_seconds / truth_mean) - 1) * 100)}; tuned in #{format("%.1f s", seconds)}"
  chosen = recommendation.recommended
  unless chosen
    puts "    keep the defaults (on the true day: #{point(yours)})"
    confirmed += 1
    next
  end
  theirs = replay.call(chosen.settings)
  ok = theirs[:cost] <= yours[:cost] * 1.01 && theirs[:wait_p95] <= (yours[:wait_p95] * 1.1) + 2
  confirmed += 1 if ok
  puts "    recommended #{chosen.name}: on the rebuilt day #{point(chosen.report)} against #{point(recommendation.yours.report)}; " \
       "on the true day #{point(theirs)} against #{point(yours)} " \
       "(#{format("%+.0f%%", ((theirs[:cost] / yours[:cost]) - 1) * 100)}): #{ok ? "confirmed" : "NOT confirmed"}"
end
puts "#{confirmed} of #{traces.size} confirmed on the true day (kept, or a change that costs at most 1% more and waits " \
     "at p95 at most 10% + 2 s longer than the defaults there)"
