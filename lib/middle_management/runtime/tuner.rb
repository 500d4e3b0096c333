require "middle_management/tuning"

module MiddleManagement
  module Runtime
    # The page's recommendation (Tuning), per pool: computed on a thread of
    # its own, never the request's, at most once an hour, and only once the
    # page asks (a grid is 75 replays of the day: seconds of work, done by
    # the native simulator without the GVL, so the app's threads run on).
    class Tuner
      EVERY = 3_600 # seconds between a pool's tunings
      THREAD_NAME = "middle_management tune".freeze

      # `outcome`: a Tuning::Recommendation, or the Tuning::Error saying why
      # there is none; `at`: ms since the epoch.
      Tuned = Struct.new(:outcome, :at, :monotonic, keyword_init: true)

      def initialize(configuration, log)
        @configuration = configuration
        @log = log
        @tuned = {}
        @thread = nil
        @mutex = Mutex.new
      end

      # Pool `pool`'s last Tuned, or nil while the first is computed; starts
      # a new one when it is an hour old and none is under way.
      def latest(store, pool, now_ms)
        @mutex.synchronize do
          tuned = @tuned[pool.name]
          start(store, pool, now_ms) if (tuned.nil? || monotonic - tuned.monotonic >= EVERY) && !@thread&.alive?
          tuned
        end
      end

      # Waits for the tuning under way (specs, scripts); false after `timeout` seconds.
      def wait(timeout) = @thread.nil? || !@thread.join(timeout).nil?

      private

      def start(store, pool, now_ms)
        @thread = Thread.new do
          outcome = tune(store, pool, now_ms)
          @mutex.synchronize { @tuned[pool.name] = Tuned.new(outcome: outcome, at: now_ms, monotonic: monotonic) }
        end
        @thread.name = THREAD_NAME
      end

      def tune(store, pool, now_ms)
        unavailable = Tuning.unavailable(store)
        return Tuning::Error.new(unavailable) if unavailable

        Tuning.recommend(@configuration, pool, now_ms: now_ms) do |since, kinds|
          store.history(pool: pool.name, since: since, kinds: kinds)
        end
      rescue Tuning::Error => e
        e
      rescue StandardError => e
        @log.failure("could not tune pool #{pool.name}", e)
        Tuning::Error.new("could not tune: #{e.class} (see the log)")
      end

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
