require "middle_management/store/history"

module MiddleManagement
  module Store
    # The scaling history in Redis (for Store::Redis): a sorted set per
    # pool, `middle_management:<app>:history:<pool>`, scored by the entry's
    # time. A member is "<at> <n> <kind> <figures as JSON>", `n` its place
    # in its write: the time makes two alike samples of different looks two
    # members, and entries of one time read back in the order written. Pruning removes what is
    # older than the retention and caps each set at CAP members, so a
    # history stays bounded even if its times are wrong; a set no process
    # writes any more (a pool removed) expires after the retention.
    module RedisHistory
      CAP = 200_000 # members per pool: a week of a look every 3 s
      # KEYS: each pool's set. ARGV: prune_before ("" for none), then per
      # key the number of entries and, per entry, its time ("" for the
      # store's clock now) and "<kind> <figures>".
      RECORD = <<~LUA.freeze
        local time = redis.call("TIME")
        local now = time[1] .. string.format("%03d", math.floor(tonumber(time[2]) / 1000))
        local at = 2
        for k = 1, #KEYS do
          local entries = tonumber(ARGV[at])
          for i = at + 1, at + 2 * entries, 2 do
            local score = ARGV[i] == "" and now or ARGV[i]
            redis.call("ZADD", KEYS[k], score, score .. string.format(" %05d ", (i - at + 1) / 2) .. ARGV[i + 1])
          end
          at = at + 1 + 2 * entries
          if ARGV[1] ~= "" then
            redis.call("ZREMRANGEBYSCORE", KEYS[k], "-inf", "(" .. ARGV[1])
            redis.call("ZREMRANGEBYRANK", KEYS[k], 0, -#{CAP + 1})
            redis.call("PEXPIRE", KEYS[k], math.max(tonumber(now) - tonumber(ARGV[1]), 1))
          end
        end
        return 1
      LUA

      def history_unavailable = nil

      # One script for every entry (one round trip), pruning the sets it
      # writes when `prune_before` (store ms) is given.
      def record_history(entries, prune_before: nil)
        by_pool = entries.group_by(&:pool)
        args = by_pool.flat_map do |_pool, pool_entries|
          [pool_entries.size, *pool_entries.flat_map { |entry| [entry.at.to_s, "#{entry.kind} #{History.encode(entry)}"] }]
        end
        redis do |conn|
          command(conn, "EVAL", RECORD, by_pool.size, *by_pool.keys.map { |pool| history_key(pool) },
                  prune_before&.then { Integer(_1) }.to_s, *args)
        end
      end

      def history(pool:, since:, kinds: nil)
        kinds = History.kinds(kinds)
        members = redis { |conn| command(conn, "ZRANGEBYSCORE", history_key(pool), Integer(since), "+inf") }
        members.filter_map do |member|
          at, _place, kind, figures = member.split(" ", 4)
          entry = History.decode(pool, kind, at, figures)
          entry if entry && kinds.include?(entry.kind)
        end
      end

      private

      def history_key(pool) = "#{@prefix}history:#{pool}"
    end
  end
end
