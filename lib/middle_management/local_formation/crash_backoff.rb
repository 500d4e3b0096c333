module MiddleManagement
  module LocalFormation
    # When to restart a process that exited by itself. Heroku restarts a
    # crashed dyno promptly, then waits longer when it keeps crashing; here
    # the delay doubles per quick crash, from `initial` up to `max`, and a
    # process that ran for `stable_after` seconds starts afresh. Not
    # thread-safe: the supervisor calls it under its lock.
    class CrashBackoff
      MAX_DELAY = 60.0
      STABLE_AFTER = 10.0

      def initialize(initial, max: MAX_DELAY, stable_after: STABLE_AFTER)
        @initial = initial
        @max = max
        @stable_after = stable_after
        @crashes = Hash.new(0)
      end

      # Seconds to wait before restarting `slot`, whose process ran `ran_for`.
      def delay(slot, ran_for)
        @crashes[slot] = ran_for >= @stable_after ? 1 : @crashes[slot] + 1
        [@initial * (2**(@crashes[slot] - 1)), @max].min
      end
    end
  end
end
