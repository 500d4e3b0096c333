# What the workers cost and how long jobs wait, per strategy, for several
# shapes of a day (bench/traces.rb), replayed by the simulator
# (`middle_management simulate`) with MAX_WORKERS=20: ours at the gem's
# defaults beside HireFire (one dyno per due or running job), Judoscale,
# always-on 20 and the clairvoyant bound, each with how long its replay
# took; then the defaults against the grid (`simulate --grid`): how much
# more they cost than the cheapest searched setting whose p95 wait is no
# longer, and whether a peer both costs less and waits less. The first five
# days chose the defaults; the last four are days they were not chosen on.
# Also how long a day of 100,000 jobs takes to replay.
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
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  status = MiddleManagement::Simulation::CLI.start([path, "--json", "--max-workers", "20", *flags], out: out)
  abort "middle_management simulate #{flags.join(" ")} failed" unless status.zero?
  JSON.parse(out.string).merge("seconds" => Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
end

def row(name, r)
  format("    %-26s %7.1f %8s %16s %7d %6d %7.2f s", name, r["dyno_hours"], format("$%.2f", r["cost"]),
         format("%.0f s / %.0f s", r["wait_p50"], r["wait_p95"]), r["calls"], r["killed"], r["seconds"])
end

STRATEGIES = {
  "ours (defaults)" => [],
  "hirefire" => ["--strategy", "hirefire", "--jobs-per-worker", "1"],
  "hirefire --decrementable" => ["--strategy", "hirefire", "--decrementable", "--jobs-per-worker", "1"],
  "judoscale" => ["--strategy", "judoscale"],
  "always-on 20" => ["--strategy", "always-on"],
  "clairvoyant" => ["--strategy", "clairvoyant"]
}.freeze

def grid_line(path)
  grid = simulate(path, "--grid")
  cheapest = grid["cheapest_as_fast"]
  beaten = grid["peers_beating_defaults"]
  format("    grid: the defaults cost %+.1f%% against the cheapest of %d settings waiting no longer at p95 (%s); %s",
         grid["defaults_extra_percent"], grid["searched"].values.map(&:size).inject(:*), cheapest["name"],
         beaten.empty? ? "no peer costs less and waits less" : "#{beaten.join(", ")} cost less and wait less")
end

Dir.mktmpdir("middle_management-cost") do |dir|
  puts "Cost and job waits per strategy, MAX_WORKERS=20, Standard-1X prices " \
       "(dyno-hours, cost, wait p50 / p95, formation changes, jobs killed, replay time):"
  { "chosen on" => Traces.all, "not chosen on" => Traces.unseen }.each do |seen, traces|
    puts " days the defaults were #{seen}:"
    traces.each do |name, jobs|
      path = Traces.write(File.join(dir, "trace.csv"), jobs)
      longest = jobs.map { |job| job[1] }.max
      puts "  #{name} (#{jobs.size} jobs, the longest #{longest.round} s):"
      STRATEGIES.each { |strategy, flags| puts row(strategy, simulate(path, *flags)) }
      puts grid_line(path)
    end
  end

  path = Traces.write(File.join(dir, "day.csv"), Traces.steady(Random.new(2), jobs: 100_000))
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  simulate(path, "--max-workers", "50", "--jobs-per-worker", "5")
  puts format("A day of 100,000 jobs replays in %.2f s (reading the trace included); goal < 1 s", Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
end
