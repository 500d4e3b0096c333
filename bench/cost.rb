# What the workers cost and how long jobs wait, per strategy, for several
# shapes of a day (bench/traces.rb), replayed by the simulator
# (`middle_management simulate`) with MAX_WORKERS=20: ours at the gem's
# defaults (JOBS_PER_WORKER=10, SCALE_DOWN_DELAY=0) and at the cheapest
# settings a small search finds whose p95 wait stays under a minute, beside
# HireFire (one dyno per due or running job), Judoscale, always-on 20 and the
# clairvoyant bound. Also how long a day of 100,000 jobs takes to replay.
#
#   ruby bench/cost.rb
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "json"
require "stringio"
require "tmpdir"
require "middle_management/simulation/cli"
require_relative "traces"

def simulate(path, *flags)
  out = StringIO.new
  status = MiddleManagement::Simulation::CLI.start([path, "--json", "--max-workers", "20", *flags], out: out)
  abort "middle_management simulate #{flags.join(" ")} failed" unless status.zero?
  JSON.parse(out.string)
end

def row(name, r)
  format("    %-34s %8.1f %9s %18s %6d %6d", name, r["dyno_hours"], format("$%.2f", r["cost"]),
         format("%.0f s / %.0f s", r["wait_p50"], r["wait_p95"]), r["calls"], r["killed"])
end

# Ours at the cheapest of a few settings with p95 wait under 60 s.
def best_ours(path)
  candidates = [1, 2, 5, 10].product([0, 60, 300]).map do |jobs_per_worker, delay|
    flags = ["--jobs-per-worker", jobs_per_worker.to_s, "--scale-down-delay", delay.to_s]
    [flags, simulate(path, *flags)]
  end
  fast = candidates.select { |_, r| r["wait_p95"] < 60 }
  (fast.empty? ? candidates : fast).min_by { |_, r| r["cost"] }
end

Dir.mktmpdir("middle_management-cost") do |dir|
  puts "Cost and job waits per strategy, MAX_WORKERS=20, Standard-1X prices (dyno-hours, cost, wait p50 / p95, calls, killed):"
  Traces.all.each do |name, jobs|
    path = Traces.write(File.join(dir, "trace.csv"), jobs)
    puts "  #{name} (#{jobs.size} jobs):"
    puts row("ours (defaults)", simulate(path))
    flags, best = best_ours(path)
    puts row("ours (#{flags.values_at(1, 3).join(" per worker, delay ")} s)", best)
    puts row("hirefire", simulate(path, "--strategy", "hirefire", "--jobs-per-worker", "1"))
    puts row("hirefire --decrementable", simulate(path, "--strategy", "hirefire", "--decrementable", "--jobs-per-worker", "1"))
    puts row("judoscale", simulate(path, "--strategy", "judoscale"))
    puts row("always-on 20", simulate(path, "--strategy", "always-on"))
    puts row("clairvoyant", simulate(path, "--strategy", "clairvoyant"))
  end

  path = Traces.write(File.join(dir, "day.csv"), Traces.steady(Random.new(2), jobs: 100_000))
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  simulate(path, "--max-workers", "50", "--jobs-per-worker", "5")
  puts format("A day of 100,000 jobs replays in %.2f s (reading the trace included); goal < 1 s", Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
end
