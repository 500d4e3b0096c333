require "middle_management/tuning"

module MiddleManagement
  module Runtime
    # The page's recommendations (Tuning), per pool: computed on a thread
    # of its own, never the request's, only once the page asks, each pool
    # at most once an hour (a grid is 75 replays of the day: seconds of
    # work, done by the native simulator without the GVL, so the app's
    # threads run on). One thread tunes every pool that is due, in turn.
    class Tuner
      EVERY = 3_600 # seconds between a pool's tunings
      THREAD_NAME = "middle_management tune".freeze

      # `outcome`: Tuning::Recommendation#to_h (plain values: the page's,
      # not the day's rebuilt jobs), or the Tuning::Error saying why there
      # is none; `at`: ms since the epoch.
      Tuned = Struct.new(:outcome, :at, :monotonic, keyword_init: true)

      def initialize(configuration, pools, log)
        @configuration = configuration
        @pools = pools
        @log = log
        @tuned = {}
        @thread = nil
        @mutex = Mutex.new
      end

      # Pool `name`'s last Tuned, or nil until its first is done; starts
      # tuning the pools an hour old (or never tuned) unless it is under way.
      def latest(store, name, now_ms)
        @mutex.synchronize do
          due = @pools.select { |pool| (tuned = @tuned[pool.name]).nil? || monotonic - tuned.monotonic >= EVERY }
          start(store, due, now_ms) if due.any? && !@thread&.alive?
          @tuned[name]
        end
      end

      # Waits for the tuning under way (specs, scripts); false after `timeout` seconds.
      def wait(timeout) = @thread.nil? || !@thread.join(timeout).nil?

      private

      def start(store, pools, now_ms)
        @thread = Thread.new do
          pools.each do |pool|
            outcome = tune(store, pool, now_ms)
            @mutex.synchronize { @tuned[pool.name] = Tuned.new(outcome: outcome, at: now_ms, monotonic: monotonic) }
          end
        end
        @thread.name = THREAD_NAME
      end

      def tune(store, pool, now_ms)
        unavailable = Tuning.unavailable(store)
        return Tuning::Error.new(unavailable) if unavailable

        Tuning.recommend(@configuration, pool, now_ms: now_ms) do |since, kinds|
          store.history(pool: pool.name, since: since, kinds: kinds)
        end.to_h
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
