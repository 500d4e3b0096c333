require "middle_management/worker/dyno"

module MiddleManagement
  module Worker
    # Whether this worker's dyno drains: Heroku stops the highest-numbered
    # dynos first, so a dyno numbered above what the work needs (the app's
    # last decision, in the store) takes no new job and finishes the one it
    # has; once the dynos above are idle the formation shrinks without
    # stopping anyone mid-job. It takes jobs again when the work needs it.
    #
    # Asked by the job libraries' fetch loops on their own threads: the
    # answer is read from the store at most every CHECK_EVERY seconds, and a
    # store that cannot answer means "not draining" (a job run beats a job
    # left waiting; the busy-dyno floor still keeps it from being stopped).
    class Drain
      CHECK_EVERY = 1.0 # seconds

      def initialize(agent, log, dyno: Dyno.current)
        @agent = agent
        @log = log
        @dyno = dyno
        @pool = dyno&.numbered? && agent.pools.find { |pool| pool.position(dyno).is_a?(Integer) }
        # The first dyno would drain only when the work needs none, and then
        # there is no job to take: it never asks the store.
        @pool = nil if @pool && @pool.position(dyno) <= 1
        @lock = Mutex.new
        @draining = false
        @checked_at = nil
      end

      # `fresh`: read the store now, whatever was read a moment ago.
      def draining?(fresh: false)
        return false unless @pool

        @lock.synchronize do
          check if fresh || @checked_at.nil? || monotonic - @checked_at >= CHECK_EVERY
          @draining
        end
      end

      private

      def check
        @checked_at = monotonic
        needed = @agent.store.read(@pool.name).needed
        draining = !needed.nil? && @pool.position(@dyno) > needed
        say(draining, needed) if draining != @draining
        @draining = draining
      rescue StandardError => e
        @log.failure("could not read whether #{@dyno} drains", e)
        @draining = false
      end

      def say(draining, needed)
        @log.info(if draining
                    "#{@dyno} drains: the work needs #{needed} #{@pool.name} dynos; it finishes its jobs and takes no new one"
                  else
                    "#{@dyno} takes jobs again: the work needs #{needed.inspect} #{@pool.name} dynos"
                  end)
      end

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
