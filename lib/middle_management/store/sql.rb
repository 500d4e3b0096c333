require "middle_management/store/sql_statements"
require "middle_management/store/heartbeats"
require "middle_management/store/job_indexes"
require "middle_management/store/sql_history"

module MiddleManagement
  module Store
    # The store in the jobs' own database, through ActiveRecord (PostgreSQL,
    # MySQL, SQLite): the table middle_management_pools, a row per pool and
    # the app's row ('*': the lease and the window). A claim is one
    # conditional UPDATE judged by the database's clock; a settle, one
    # transaction that only commits while the lease is still held (on
    # SQLite, one statement after another under the lease). A connection is
    # borrowed from the app's pool for each call and given straight back;
    # its statements are bounded in time (SQLTimeLimit).
    class SQL
      include SQLStatements

      TABLE = "middle_management_pools".freeze
      APP = "*".freeze # the app's row: no process type is named so
      # [name, type, options]: the table, for the migration the generator
      # writes and for Store.install. Times: ms since the epoch, database clock.
      COLUMNS = [
        [:process_type, :string, { null: false }],
        [:lease_holder, :string, {}],
        [:lease_expires_at, :bigint, {}],
        [:window_opens_at, :bigint, {}],
        [:decided_at, :bigint, {}],
        [:pending_at, :bigint, {}],
        [:quantity, :integer, {}],
        [:wanted, :integer, {}], # PoolRecord#needed, under its first name (Fields::STORED_AS)
        [:history, :string, { limit: 1000 }], # PoolRecord#memory, likewise
        [:look_at, :bigint, {}]
      ].freeze
      # Added after the first release: a table installed before lacks them,
      # and works without them until the app adds them (UPGRADE).
      LATER_COLUMNS = %w[look_at].freeze
      UPGRADE = "the coordination store's table lacks %s: the app's next due look is not shared, so a job " \
                "scheduled by a process that exits waits for another's periodic look; run " \
                "`rails generate middle_management:install && rails db:migrate` " \
                "(MiddleManagement::Store.install outside Rails) to add it".freeze

      # `model`: an ActiveRecord class whose connection reaches the jobs' database.
      def initialize(model)
        @model = model
      end

      # Both tables: the store's and the workers' heartbeats.
      def installed?
        with_connection { |conn| conn.table_exists?(TABLE) } && heartbeats.installed?
      end

      def install
        with_connection do |conn|
          if conn.table_exists?(TABLE)
            COLUMNS.each do |name, type, options|
              conn.add_column(TABLE, name, type, **options) unless conn.column_exists?(TABLE, name)
            end
            next
          end

          conn.create_table(TABLE, id: false) do |t|
            COLUMNS.each { |name, type, options| t.column(name, type, **options) }
          end
          conn.add_index(TABLE, :process_type, unique: true)
        end
        @missing = nil
        heartbeats.install
        history_table.install
        # Outside the store's statement time limit: building an index on a
        # big queue takes what it takes, once, at install.
        @model.connection_pool.with_connection { |conn| JobIndexes.install(conn, jobs_table) }
        self
      end

      def jobs_table = defined?(::Delayed::Job) ? ::Delayed::Job.table_name : JobIndexes::TABLE

      def heartbeats = (@heartbeats ||= Heartbeats.new(@model))

      def history_table = (@history_table ||= SQLHistory.new(@model))

      # The scaling history (Store::History): why none is kept, or nil.
      def history_unavailable = history_table.installed? ? nil : SQLHistory::MISSING

      def record_history(entries, prune_before: nil) = history_table.record(entries, prune_before: prune_before)

      def history(pool:, since:, kinds: nil)
        history_table.installed? ? history_table.read(pool, since: since, kinds: kinds) : []
      end

      # A lease with no expiry or one further off than a lease lasts, and a
      # last decision in the future, were written by no claim (by hand, or
      # a clock that jumped): they never hold a claim up.
      def claim(pools, holder: Store.holder, ttl: LEASE_TTL, gap: 0)
        with_connection do |conn|
          now = now_sql(conn)
          claimed = update(conn, <<~SQL, holder, Integer(ttl), APP, LEASE_TTL_MAX, Integer(gap), Fields::SKEW)
            UPDATE #{TABLE} SET lease_holder = ?, lease_expires_at = #{now} + ?
            WHERE process_type = ?
              AND (lease_holder IS NULL OR lease_expires_at IS NULL OR lease_expires_at < #{now}
                   OR lease_expires_at > #{now} + ?)
              AND (decided_at IS NULL OR decided_at <= #{now} - ? OR decided_at > #{now} + ? OR pending_at IS NOT NULL)
          SQL
          missing = [APP, *pools] - rows(conn, [APP, *pools]).map { |row| row["process_type"] }
          if missing.any?
            missing.each { |name| create_row(conn, name) }
            next claim(pools, holder: holder, ttl: ttl, gap: gap) if claimed.zero?
          end
          row = select(conn, "SELECT #{(%w[window_opens_at decided_at pending_at lease_expires_at] + present(conn, LATER_COLUMNS)).join(", ")}, " \
                             "#{now} AS now FROM #{TABLE} WHERE process_type = ?", APP)
          now = Integer(row["now"])
          fields = Fields.new(now)
          app = fields.app_record(row)
          next Store.held(now, row["lease_expires_at"], app, gap) if claimed.zero?

          records = rows(conn, pools).to_h { |pool_row| [pool_row["process_type"], fields.pool_record(pool_row["process_type"], pool_row)] }
          Lease.new(self, holder, app, records, now, problems: fields.problems + missing_problems(conn))
        end
      end

      def settle(holder, claimed_at, times, pools)
        with_connection do |conn|
          times = times.slice(:window_opens_at, *present(conn, LATER_COLUMNS).map(&:to_sym))
          next settle_in_steps(conn, holder, claimed_at, times, pools) if sqlite?(conn)

          conn.transaction(requires_new: true) do
            pools.each { |pool, changes| update_pool(conn, pool, changes) }
            settled = record_decision(conn, holder, claimed_at, times, release: true).positive?
            raise ::ActiveRecord::Rollback unless settled

            settled
          end || false
        end
      end

      def release(holder)
        with_connection do |conn|
          update(conn, "UPDATE #{TABLE} SET lease_holder = NULL, lease_expires_at = NULL " \
                       "WHERE process_type = ? AND lease_holder = ?", APP, holder)
        end
      end

      # News this process will not decide on (it is exiting while the window
      # is closed): the next process to decide sees that it must.
      def leave_news
        with_connection do |conn|
          create_row(conn, APP) if rows(conn, [APP]).empty?
          update(conn, "UPDATE #{TABLE} SET pending_at = COALESCE(pending_at, #{now_sql(conn)}) " \
                       "WHERE process_type = ?", APP)
        end
      end

      # Heroku has `quantity` of `pool`: it answered a call, or its
      # formation was read.
      def confirm_quantity(pool, quantity)
        with_connection do |conn|
          create_row(conn, pool) if rows(conn, [pool]).empty?
          update(conn, "UPDATE #{TABLE} SET quantity = ? WHERE process_type = ?", Integer(quantity), pool)
        end
      end

      def read(pool)
        with_connection { |conn| rows(conn, [pool]).first&.then { |row| Fields.new.pool_record(pool, row) } || PoolRecord.new }
      end

      def read_app
        with_connection { |conn| rows(conn, [APP]).first&.then { |row| Fields.new.app_record(row) } || AppRecord.new }
      end

      def now_ms
        with_connection { |conn| Integer(conn.select_value("SELECT #{now_sql(conn)}")) }
      end

      private

      # On SQLite a transaction would hold its one write lock across Ruby
      # code, where the app's inserts wait for it with the GVL held: each
      # step is a statement of its own, under the lease (kept until the last).
      def settle_in_steps(conn, holder, claimed_at, times, pools)
        return false unless record_decision(conn, holder, claimed_at, times, release: false).positive?

        pools.each { |pool, changes| update_pool(conn, pool, changes) }
        release(holder).positive?
      end

      # `changes`: PoolRecord members, written under their stored names.
      def update_pool(conn, pool, changes)
        return if changes.empty?

        changes = Fields.stored(changes)

        update(conn, "UPDATE #{TABLE} SET #{changes.keys.map { |name| "#{name} = ?" }.join(", ")} " \
                     "WHERE process_type = ?", *changes.values, pool)
      end

      # `times`: the app's window and next look, as far as the table has them.
      def record_decision(conn, holder, claimed_at, times, release:)
        update(conn, <<~SQL, *times.values, Integer(claimed_at), APP, holder)
          UPDATE #{TABLE} SET #{times.keys.map { |name| "#{name} = ?" }.join(", ")}, decided_at = #{now_sql(conn)},
            pending_at = CASE WHEN pending_at <= ? THEN NULL ELSE pending_at END
            #{", lease_holder = NULL, lease_expires_at = NULL" if release}
          WHERE process_type = ? AND lease_holder = ?
        SQL
      end

      def rows(conn, names)
        return [] if names.empty?

        conn.select_all(bind(conn, "SELECT * FROM #{TABLE} WHERE process_type IN (#{(["?"] * names.size).join(", ")})",
                             names), "MiddleManagement::Store").to_a
      end

      def create_row(conn, name) = insert_ignoring_duplicates(conn, TABLE, %w[process_type], "?", name)

      # Those of `names` the table has (looked up once per store).
      def present(conn, names) = names - missing_columns(conn)

      def missing_columns(conn)
        @missing ||= LATER_COLUMNS - conn.columns(TABLE).map(&:name)
      end

      def missing_problems(conn)
        missing = missing_columns(conn)
        missing.empty? ? [] : [[:upgrade, format(UPGRADE, missing.join(", "))]]
      end
    end
  end
end
