module MiddleManagement
  module Store
    # The store in the Redis that Sidekiq or Resque already use, through the
    # library's own connection pool: per pool a lease key (`SET … NX PX`) and
    # a hash of the state, under `middle_management:<app>:`. Changes that
    # depend on holding the lease are one Lua script each, so a lease that
    # expired meanwhile changes nothing. Times are Redis's clock (TIME).
    class Redis
      SETTLE = <<~LUA.freeze
        if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
        local claimed_at = tonumber(ARGV[2])
        local pending = tonumber(redis.call("HGET", KEYS[2], "pending_at"))
        if pending and pending <= claimed_at then redis.call("HDEL", KEYS[2], "pending_at") end
        for i = 4, #ARGV, 2 do
          if ARGV[i + 1] == "" then redis.call("HDEL", KEYS[2], ARGV[i]) else redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1]) end
        end
        redis.call("HSET", KEYS[2], "decided_at", ARGV[3])
        redis.call("DEL", KEYS[1])
        return 1
      LUA
      RELEASE = <<~LUA.freeze
        if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
        return 0
      LUA
      FORGET = <<~LUA.freeze
        if redis.call("HGET", KEYS[1], "quantity") == ARGV[1] then return redis.call("HDEL", KEYS[1], "quantity") end
        return 0
      LUA
      INTEGERS = %i[quantity window_opens_at wanted decided_at pending_at].freeze

      # `connection`: yields a Redis connection, as Sidekiq.redis does.
      def initialize(app, &connection)
        @prefix = "middle_management:#{app}:"
        @connection = connection
      end

      def installed? = true

      def claim(pool, holder: Store.holder, ttl: LEASE_TTL)
        redis do |conn|
          now = now_ms(conn)
          if command(conn, "SET", lease_key(pool), holder, "NX", "PX", Integer(ttl))
            Lease.new(self, pool, holder, state_of(command(conn, "HGETALL", state_key(pool))), now)
          else
            Held.new(retry_in: [command(conn, "PTTL", lease_key(pool)).to_i, 0].max / 1000.0)
          end
        end
      end

      def settle(pool, holder, claimed_at, changes)
        fields = changes.flat_map { |name, value| [name.to_s, value.to_s] }
        redis do |conn|
          command(conn, "EVAL", SETTLE, 2, lease_key(pool), state_key(pool), holder, Integer(claimed_at), now_ms(conn),
                  *fields).to_i == 1
        end
      end

      def release(pool, holder)
        redis { |conn| command(conn, "EVAL", RELEASE, 1, lease_key(pool), holder) }
      end

      def leave_news(pool)
        redis { |conn| command(conn, "HSETNX", state_key(pool), "pending_at", now_ms(conn)) }
      end

      def forget_quantity(pool, quantity)
        redis { |conn| command(conn, "EVAL", FORGET, 1, state_key(pool), quantity.to_s) }
      end

      def read(pool) = redis { |conn| state_of(command(conn, "HGETALL", state_key(pool))) }

      def now_ms(conn = nil)
        return redis { |c| now_ms(c) } unless conn

        seconds, micros = command(conn, "TIME")
        (Integer(seconds) * 1000) + (Integer(micros) / 1000)
      end

      private

      def redis(&block) = @connection.call(&block)

      def lease_key(pool) = "#{@prefix}#{pool}:lease"
      def state_key(pool) = "#{@prefix}#{pool}"

      # One command, whatever the client: redis-rb (Sidekiq 6, Resque; also
      # through redis-namespace, whose keys this bypasses on purpose) and
      # redis-client (Sidekiq 7) both take `call(*command)`; a namespace
      # passes it through to the redis-rb client beneath.
      def command(conn, *command)
        conn = conn.redis while defined?(::Redis::Namespace) && conn.is_a?(::Redis::Namespace)
        conn.call(*command.map { |part| part.is_a?(Integer) ? part.to_s : part })
      end

      def state_of(pairs)
        hash = pairs.is_a?(Hash) ? pairs : pairs.each_slice(2).to_h
        State.new(**INTEGERS.to_h { |name| [name, hash[name.to_s] && Integer(hash[name.to_s])] },
                  history: hash["history"])
      end
    end
  end
end
