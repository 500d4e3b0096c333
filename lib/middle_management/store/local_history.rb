require "middle_management/store/history"

module MiddleManagement
  module Store
    # The scaling history of a process without a store (Store::Local): a
    # ring per pool in memory, so the page shows something there too. It
    # is this process's alone and goes with it.
    class LocalHistory
      RING = 20_000 # entries per pool: a week of a look every 30 s

      def initialize
        @pools = Hash.new { |hash, pool| hash[pool] = [] }
        @lock = Mutex.new
      end

      def record(entries, now, prune_before: nil)
        @lock.synchronize do
          entries.each do |entry|
            ring = @pools[entry.pool]
            ring << entry.dup.tap { |kept| kept.at ||= now }
            ring.shift if ring.size > RING
          end
          @pools.each_value { |ring| ring.shift while ring.first && ring.first.at < prune_before } if prune_before
        end
      end

      # Oldest first (entries come in time order: one process writes them).
      def read(pool, since:, kinds: nil)
        kinds = History.kinds(kinds)
        @lock.synchronize do
          @pools.fetch(pool, []).select { |entry| entry.at >= since && kinds.include?(entry.kind) }.map(&:dup)
        end
      end
    end
  end
end
