module MiddleManagement
  module LocalFormation
    # Heroku's per-account request budget, as RateLimit-Remaining reports it:
    # every request takes one token, and at zero Heroku answers 429. Refills
    # (about 75 a minute on Heroku) are not modelled, so a test decides when
    # the budget runs out.
    class RateLimit
      HEROKU_BUCKET = 4500

      def initialize(remaining = HEROKU_BUCKET)
        @remaining = remaining
        @lock = Mutex.new
      end

      def remaining = @lock.synchronize { @remaining }

      def remaining=(count)
        @lock.synchronize { @remaining = count }
      end

      # Returns [remaining after this request, whether it was already exhausted].
      def take
        @lock.synchronize do
          exhausted = @remaining <= 0
          @remaining -= 1 unless exhausted
          [@remaining, exhausted]
        end
      end
    end
  end
end
