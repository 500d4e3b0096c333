# What a hook pays to hand a job change to the dispatcher: one
# Internal::Native::Dispatcher#wake call from Ruby (goal: under 1 µs median).
#
#   ruby -Ilib bench/handoff.rb
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
ENV["MIDDLE_MANAGEMENT_ENABLED"] = "false" # the benchmark drives its own dispatcher
require "middle_management"

config = MiddleManagement::Configuration.new
config.heroku_app = "bench"
config.dry_run = true
config.max_workers = 10
dispatcher = MiddleManagement::Internal::Native::Dispatcher.new(config.native_settings)

BATCH = 1_000
ROUNDS = 300
clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) }

10.times { BATCH.times { dispatcher.wake(0, nil) } } # warm up
per_call = Array.new(ROUNDS) do
  started = clock.call
  BATCH.times { dispatcher.wake(0, nil) }
  (clock.call - started) / BATCH.to_f
end.sort

empty = Array.new(ROUNDS) do
  started = clock.call
  BATCH.times { nil }
  (clock.call - started) / BATCH.to_f
end.sort

median = per_call[ROUNDS / 2]
loop_cost = empty[ROUNDS / 2]
puts format("handoff: median %.0f ns per wake (p90 %.0f ns; the Ruby loop itself %.0f ns), goal < 1000 ns: %s",
            median, per_call[ROUNDS * 9 / 10], loop_cost, median < 1000 ? "met" : "MISSED")
dispatcher.shutdown
