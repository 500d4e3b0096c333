require "middle_management/store/local_history"

module MiddleManagement
  module Store
    # This process's own records, for an app whose store is not installed:
    # each process decides alone, as before the store existed.
    class Local
      def initialize
        @app = AppRecord.new
        @pools = Hash.new { |hash, pool| hash[pool] = PoolRecord.new }
        @holder = nil
        @expires_at = 0
        @lock = Mutex.new
        @history = LocalHistory.new
      end

      def claim(pools, holder: Store.holder, ttl: LEASE_TTL, gap: 0)
        @lock.synchronize do
          now = now_ms
          held = @holder && @expires_at > now
          recent = @app.decided_at && @app.decided_at > now - gap && @app.pending_at.nil?
          return Store.held(now, held ? @expires_at : 0, @app, gap) if held || recent

          @holder = holder
          @expires_at = now + ttl
          Lease.new(self, holder, @app.dup, pools.to_h { |pool| [pool, @pools[pool].dup] }, now)
        end
      end

      def settle(holder, claimed_at, times, pools)
        @lock.synchronize do
          return false unless @holder == holder && @expires_at > now_ms

          pools.each { |pool, changes| changes.each { |name, value| @pools[pool][name] = value } }
          @app.window_opens_at = times[:window_opens_at]
          @app.look_at = times[:look_at]
          @app.decided_at = now_ms
          @app.pending_at = nil if @app.pending_at && @app.pending_at <= claimed_at
          @holder = nil
          true
        end
      end

      def release(holder)
        @lock.synchronize { @holder = nil if @holder == holder }
      end

      def leave_news
        @lock.synchronize { @app.pending_at ||= now_ms }
      end

      def confirm_quantity(pool, quantity)
        @lock.synchronize { @pools[pool].quantity = quantity }
      end

      def read(pool) = @lock.synchronize { @pools[pool].dup }

      def read_app = @lock.synchronize { @app.dup }

      def history_unavailable = nil

      def record_history(entries, prune_before: nil) = @history.record(entries, now_ms, prune_before: prune_before)

      def history(pool:, since:, kinds: nil) = @history.read(pool, since: Integer(since), kinds: kinds)

      def now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    end
  end
end
