module MiddleManagement
  module Store
    # This process's own record, for an app whose store is not installed:
    # each process decides alone, as before the store existed.
    class Local
      def initialize
        @records = Hash.new { |hash, pool| hash[pool] = { state: State.new, holder: nil, expires_at: 0 } }
        @lock = Mutex.new
      end

      def installed? = true

      def claim(pool, holder: Store.holder, ttl: LEASE_TTL)
        @lock.synchronize do
          record = @records[pool]
          now = now_ms
          return Held.new(retry_in: (record[:expires_at] - now) / 1000.0) if record[:holder] && record[:expires_at] > now

          record[:holder] = holder
          record[:expires_at] = now + ttl
          Lease.new(self, pool, holder, record[:state].dup, now)
        end
      end

      def settle(pool, holder, claimed_at, changes)
        @lock.synchronize do
          record = @records[pool]
          return false unless record[:holder] == holder && record[:expires_at] > now_ms

          state = record[:state]
          changes.each { |name, value| state[name] = value }
          state.decided_at = now_ms
          state.pending_at = nil if state.pending_at && state.pending_at <= claimed_at
          record[:holder] = nil
          true
        end
      end

      def release(pool, holder)
        @lock.synchronize do
          record = @records[pool]
          record[:holder] = nil if record[:holder] == holder
        end
      end

      def leave_news(pool)
        @lock.synchronize { @records[pool][:state].pending_at ||= now_ms }
      end

      def forget_quantity(pool, quantity)
        @lock.synchronize do
          state = @records[pool][:state]
          state.quantity = nil if state.quantity == quantity
        end
      end

      def read(pool) = @lock.synchronize { @records[pool][:state].dup }

      def now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    end
  end
end
