require "middle_management/store/redis_history"

module MiddleManagement
  module Store
    # The store in the Redis that Sidekiq or Resque already use, through the
    # library's own connection pool, under `middle_management:<app>:`: the
    # lease key (`SET … NX PX`), a hash for the app (window, last decision,
    # news left) and one per pool. Each change that depends on the lease is
    # one Lua script, so a lease that expired meanwhile changes nothing.
    # Times are Redis's clock (TIME).
    class Redis
      include RedisHistory

      # KEYS: lease, app. ARGV: holder, ttl, now, gap, skew. {1}, or {0,
      # the lease's time to live, the last decision}. A lease key with no
      # expiry and a last decision in the future were written by no claim
      # (by hand, or a clock that jumped): they never hold a claim up.
      CLAIM = <<~LUA.freeze
        if redis.call("PTTL", KEYS[1]) == -1 then redis.call("DEL", KEYS[1]) end
        local decided = tonumber(redis.call("HGET", KEYS[2], "decided_at"))
        if decided and decided > tonumber(ARGV[3]) + tonumber(ARGV[5]) then decided = nil end
        local recent = decided and decided > tonumber(ARGV[3]) - tonumber(ARGV[4])
        if recent and not redis.call("HGET", KEYS[2], "pending_at") then
          return {0, redis.call("PTTL", KEYS[1]), decided}
        end
        if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then return {1} end
        return {0, redis.call("PTTL", KEYS[1]), decided or false}
      LUA
      # KEYS: lease, app, then each pool's hash. ARGV: holder, claimed_at,
      # now, window_opens_at, look_at, then per pool: the number of fields,
      # and field, value pairs ("" deletes).
      SETTLE = <<~LUA.freeze
        if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
        local pending = tonumber(redis.call("HGET", KEYS[2], "pending_at"))
        if pending and pending <= tonumber(ARGV[2]) then redis.call("HDEL", KEYS[2], "pending_at") end
        redis.call("HSET", KEYS[2], "decided_at", ARGV[3])
        if ARGV[4] == "" then redis.call("HDEL", KEYS[2], "window_opens_at") else redis.call("HSET", KEYS[2], "window_opens_at", ARGV[4]) end
        if ARGV[5] == "" then redis.call("HDEL", KEYS[2], "look_at") else redis.call("HSET", KEYS[2], "look_at", ARGV[5]) end
        local at = 6
        for k = 3, #KEYS do
          local fields = tonumber(ARGV[at])
          for i = at + 1, at + 2 * fields, 2 do
            if ARGV[i + 1] == "" then redis.call("HDEL", KEYS[k], ARGV[i]) else redis.call("HSET", KEYS[k], ARGV[i], ARGV[i + 1]) end
          end
          at = at + 1 + 2 * fields
        end
        redis.call("DEL", KEYS[1])
        return 1
      LUA
      RELEASE = <<~LUA.freeze
        if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
        return 0
      LUA

      # `connection`: yields a Redis connection, as Sidekiq.redis does.
      def initialize(app, &connection)
        @prefix = "middle_management:#{app}:"
        @connection = connection
      end

      def claim(pools, holder: Store.holder, ttl: LEASE_TTL, gap: 0)
        redis do |conn|
          now = now_ms(conn)
          claimed, ttl_left = command(conn, "EVAL", CLAIM, 2, lease_key, app_key, holder, Integer(ttl), now,
                                      Integer(gap), Fields::SKEW)
          fields = Fields.new(now)
          app = fields.app_record(hash(conn, app_key))
          next Store.held(now, now + [ttl_left.to_i, 0].max, app, gap) unless claimed.to_i == 1

          records = pools.to_h { |pool| [pool, fields.pool_record(pool, hash(conn, pool_key(pool)))] }
          Lease.new(self, holder, app, records, now, problems: fields.problems)
        end
      end

      # `times`: the app's window and next look.
      def settle(holder, claimed_at, times, pools)
        args = pools.flat_map do |_pool, changes|
          [changes.size, *Fields.stored(changes).flat_map { |name, value| [name, value.to_s] }]
        end
        redis do |conn|
          command(conn, "EVAL", SETTLE, 2 + pools.size, lease_key, app_key, *pools.keys.map { |pool| pool_key(pool) },
                  holder, Integer(claimed_at), now_ms(conn), times[:window_opens_at].to_s, times[:look_at].to_s,
                  *args).to_i == 1
        end
      end

      def release(holder)
        redis { |conn| command(conn, "EVAL", RELEASE, 1, lease_key, holder) }
      end

      def leave_news
        redis { |conn| command(conn, "HSETNX", app_key, "pending_at", now_ms(conn)) }
      end

      # Heroku has `quantity` of `pool`.
      def confirm_quantity(pool, quantity)
        redis { |conn| command(conn, "HSET", pool_key(pool), "quantity", Integer(quantity)) }
      end

      def read(pool) = redis { |conn| Fields.new.pool_record(pool, hash(conn, pool_key(pool))) }

      def read_app = redis { |conn| Fields.new.app_record(hash(conn, app_key)) }

      def now_ms(conn = nil)
        return redis { |c| now_ms(c) } unless conn

        seconds, micros = command(conn, "TIME")
        (Integer(seconds) * 1000) + (Integer(micros) / 1000)
      end

      private

      def redis(&block) = @connection.call(&block)

      def lease_key = "#{@prefix}lease"
      def app_key = "#{@prefix}app"
      def pool_key(pool) = "#{@prefix}pool:#{pool}"

      # One command, whatever the client: redis-rb (Sidekiq 6, Resque) and
      # redis-client (Sidekiq 7) both take `call(*command)`; a redis-namespace
      # wrapper is looked through (these keys name the app themselves).
      def command(conn, *command)
        conn = conn.redis while defined?(::Redis::Namespace) && conn.is_a?(::Redis::Namespace)
        conn.call(*command.map { |part| part.is_a?(Integer) ? part.to_s : part })
      end

      def hash(conn, key)
        pairs = command(conn, "HGETALL", key)
        pairs.is_a?(Hash) ? pairs : pairs.each_slice(2).to_h
      end
    end
  end
end
