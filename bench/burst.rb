# A burst of 10,000 enqueues with the default 10 s throttle (goal: at most
# one formation call per throttle window, ending at MAX_WORKERS).
#
#   ruby bench/burst.rb
require_relative "setup"
Bench.database
require "middle_management"

JOBS = 10_000
THROTTLE = 10.0
heroku = Bench.heroku
Bench.boot(Bench.vars(heroku, "API_THROTTLE" => THROTTLE))

started = Time.now
JOBS.times { MiddleManagement::Slacker.delay.slack_for(1) }
enqueued_in = Time.now - started
# The last window's decision goes out when it opens; wait for it.
deadline = Time.now + THROTTLE + 5
sleep 0.1 until heroku.quantity("worker") == 10 || Time.now > deadline
calls = heroku.patches.map(&:at)
windows = calls.each_cons(2).map { |a, b| b - a }
heroku.stop
MiddleManagement.reset!

puts format("burst: %d enqueues in %.1f s; %d formation calls %s; closest two calls %.1f s apart " \
            "(throttle %.0f s); final quantity %s of max 10: %s",
            JOBS, enqueued_in, calls.size, calls.map { |t| format("+%.1fs", t - started) }.join(" "),
            windows.min || Float::INFINITY, THROTTLE, heroku.quantity("worker"),
            windows.all? { |w| w >= THROTTLE - 0.05 } && heroku.quantity("worker") == 10 ? "met" : "MISSED")
