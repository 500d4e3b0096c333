module MiddleManagement
  module Runtime
    # `MiddleManagement.status`: the dispatcher's view (per pool desired and
    # known quantities, counts, calls, errors, Heroku's RateLimit-Remaining)
    # with what only the Ruby side knows: the busy and draining dynos of the
    # last count, whether it stopped at the cap, the store in use, what
    # was measured of its jobs and boots (Measures); and, asked for, an
    # exact count instead of the capped one.
    class Status
      # `recount`: counts a pool exactly (Agent#count), or nil.
      def initialize(native, decision, pools:, store:, measuring:, recount: nil)
        @native = native
        @decision = decision
        @measuring = measuring
        @pools = pools
        @store = store
        @recount = recount
      end

      def to_h
        @native[:pools].each do |pool|
          pool[:last_call_at] &&= Time.at(pool[:last_call_at])
          pool.merge!(@decision.busy_status(pool[:name]))
          pool[:measured] = @measuring.last(pool[:name])&.to_h
          recount(pool) if @recount
        end
        @native.merge(store: @store && @store.class.name.split("::").last)
      end

      private

      def recount(status)
        counts = @recount.call(@pools.find { |pool| pool.name == status[:name] }) or return
        status.delete(:capped)
        status.merge!(runnable: counts.runnable, running: counts.running)
      end
    end
  end
end
