module MiddleManagement
  module Store
    # The store in the jobs' own database, through ActiveRecord (PostgreSQL,
    # MySQL, SQLite): the table middle_management_pools, one row per pool.
    # Every claim is one conditional UPDATE judged by the database's clock;
    # a connection is borrowed from the app's pool for each call and given
    # straight back.
    class SQL
      TABLE = "middle_management_pools".freeze
      # [name, type, options]: the table, for the migration the generator
      # writes and for Store.install. Times: ms since the epoch, database clock.
      COLUMNS = [
        [:process_type, :string, { null: false }],
        [:lease_holder, :string, {}],
        [:lease_expires_at, :bigint, {}],
        [:quantity, :integer, {}],
        [:window_opens_at, :bigint, {}],
        [:wanted, :integer, {}],
        [:decided_at, :bigint, {}],
        [:pending_at, :bigint, {}],
        [:history, :string, { limit: 1000 }]
      ].freeze
      STATE_COLUMNS = %w[quantity window_opens_at wanted decided_at pending_at history].freeze
      INSTALL_HINT = "run `rails generate middle_management:install && rails db:migrate`, " \
                     "or MiddleManagement::Store.install outside Rails".freeze

      # `model`: an ActiveRecord class whose connection reaches the jobs' database.
      def initialize(model)
        @model = model
      end

      def installed?
        with_connection { |conn| conn.table_exists?(TABLE) }
      end

      def install
        with_connection do |conn|
          next if conn.table_exists?(TABLE)

          conn.create_table(TABLE, id: false) do |t|
            COLUMNS.each { |name, type, options| t.column(name, type, **options) }
          end
          conn.add_index(TABLE, :process_type, unique: true)
        end
        self
      end

      def claim(pool, holder: Store.holder, ttl: LEASE_TTL)
        with_connection do |conn|
          now = now_sql(conn)
          claimed = update(conn, <<~SQL, holder, Integer(ttl), pool)
            UPDATE #{TABLE} SET lease_holder = ?, lease_expires_at = #{now} + ?
            WHERE process_type = ? AND (lease_holder IS NULL OR lease_expires_at < #{now})
          SQL
          if claimed.zero? && !row?(conn, pool)
            create_row(conn, pool)
            next claim(pool, holder: holder, ttl: ttl)
          end
          row = select(conn, "SELECT #{STATE_COLUMNS.join(", ")}, lease_expires_at, #{now} AS now " \
                             "FROM #{TABLE} WHERE process_type = ?", pool)
          if claimed.zero?
            Held.new(retry_in: [Integer(row["lease_expires_at"] || 0) - Integer(row["now"]), 0].max / 1000.0)
          else
            Lease.new(self, pool, holder, state_of(row), Integer(row["now"]))
          end
        end
      end

      def settle(pool, holder, claimed_at, changes)
        with_connection do |conn|
          assignments = changes.keys.map { |name| "#{name} = ?" }
          update(conn, <<~SQL, *changes.values, Integer(claimed_at), pool, holder).positive?
            UPDATE #{TABLE} SET #{assignments.map { |a| "#{a}, " }.join}decided_at = #{now_sql(conn)},
              pending_at = CASE WHEN pending_at <= ? THEN NULL ELSE pending_at END,
              lease_holder = NULL, lease_expires_at = NULL
            WHERE process_type = ? AND lease_holder = ?
          SQL
        end
      end

      def release(pool, holder)
        with_connection do |conn|
          update(conn, "UPDATE #{TABLE} SET lease_holder = NULL, lease_expires_at = NULL " \
                       "WHERE process_type = ? AND lease_holder = ?", pool, holder)
        end
      end

      # News this process will not decide on (it is exiting while the window
      # is closed): the next process to decide sees that it must.
      def leave_news(pool)
        with_connection do |conn|
          create_row(conn, pool) unless row?(conn, pool)
          update(conn, "UPDATE #{TABLE} SET pending_at = COALESCE(pending_at, #{now_sql(conn)}) WHERE process_type = ?",
                 pool)
        end
      end

      # A call for `quantity` failed: what Heroku has is unknown again.
      def forget_quantity(pool, quantity)
        with_connection do |conn|
          update(conn, "UPDATE #{TABLE} SET quantity = NULL WHERE process_type = ? AND quantity = ?", pool, quantity)
        end
      end

      def read(pool)
        with_connection do |conn|
          row = select(conn, "SELECT #{STATE_COLUMNS.join(", ")} FROM #{TABLE} WHERE process_type = ?", pool)
          row ? state_of(row) : State.new
        end
      end

      def now_ms
        with_connection { |conn| Integer(conn.select_value("SELECT #{now_sql(conn)}")) }
      end

      private

      def with_connection(&block)
        @model.connection_pool.with_connection(&block)
      end

      # The database's clock in ms since the epoch, as an integer.
      def now_sql(conn)
        case conn.adapter_name
        when /postg/i then "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        when /mysql|trilogy/i then "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
        when /sqlite/i then "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        else raise Error, "the coordination store does not know #{conn.adapter_name}'s clock"
        end
      end

      def row?(conn, pool)
        !select(conn, "SELECT 1 AS one FROM #{TABLE} WHERE process_type = ?", pool).nil?
      end

      # Two processes may create the row at once: the unique index keeps one.
      def create_row(conn, pool)
        ignore = conn.adapter_name.match?(/mysql|trilogy/i)
        update(conn, "INSERT #{"IGNORE " if ignore}INTO #{TABLE} (process_type) VALUES (?)" \
                     "#{" ON CONFLICT DO NOTHING" unless ignore}", pool)
      end

      def update(conn, sql, *binds)
        conn.exec_update(bind(conn, sql, binds), "MiddleManagement::Store")
      end

      def select(conn, sql, *binds)
        conn.select_one(bind(conn, sql, binds), "MiddleManagement::Store")
      end

      # Values quoted by the connection that runs the statement (the jobs'
      # database may not be ActiveRecord::Base's). No `?` is ever literal here.
      def bind(conn, sql, binds)
        values = binds.dup
        sql.strip.gsub("?") { conn.quote(values.shift) }
      end

      def state_of(row)
        integer = ->(value) { value.nil? ? nil : Integer(value) }
        State.new(quantity: integer[row["quantity"]], window_opens_at: integer[row["window_opens_at"]],
                  wanted: integer[row["wanted"]], decided_at: integer[row["decided_at"]],
                  pending_at: integer[row["pending_at"]], history: row["history"])
      end
    end
  end
end
