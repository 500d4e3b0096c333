# Reaction: the first enqueue on an idle app to the formation call arriving
# at the API (goal: under 100 ms; HireFire checks every 15-60 s). Each run
# boots the gem afresh on a new store, so the time includes starting the
# dispatcher, taking the app's lease, counting the jobs and reading the
# formation (the store does not know it yet).
#
#   ruby bench/reaction.rb
require_relative "setup"
Bench.database
require "middle_management"

RUNS = 30
heroku = Bench.heroku
times = Array.new(RUNS) do
  heroku.set_quantity("worker", 0)
  Delayed::Job.delete_all
  ActiveRecord::Base.connection.execute("DELETE FROM #{MiddleManagement::Store::SQL::TABLE}") # a new app
  Bench.boot(Bench.vars(heroku))
  heroku.clear_requests
  enqueued_at = Time.now
  MiddleManagement::Slacker.delay.slack_for(1)
  heroku.wait_for_patches(1, timeout: 5) or abort("no formation call within 5 s")
  (heroku.patches.first.at - enqueued_at) * 1000
end
heroku.stop
MiddleManagement.reset!

median = Bench.median(times)
puts format("reaction: median %.1f ms, p90 %.1f ms, max %.1f ms over %d cold starts; goal < 100 ms: %s",
            median, Bench.percentile(times, 0.9), times.max, RUNS, median < 100 ? "met" : "MISSED")
