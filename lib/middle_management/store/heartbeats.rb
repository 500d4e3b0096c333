module MiddleManagement
  module Store
    # Which Delayed Job workers are alive, so that a job locked by one that
    # is gone (its dyno stopped or restarted, its process killed) neither
    # holds the formation up nor waits for Delayed Job's max_run_time (4
    # hours by default) to run again. Each worker process beats under its
    # lock name (Delayed::Worker#name: dyno, host and pid, so siblings on one
    # dyno are told apart) every `timeout / 4`; one not heard from for
    # `timeout` is dead. A lock holder that never beat (a worker without the
    # gem, or from before it) is never taken for dead.
    #
    # The table middle_management_workers, in the jobs' database, beside the
    # store's own; times are the database's clock.
    class Heartbeats
      include SQLStatements

      TABLE = "middle_management_workers".freeze
      COLUMNS = [[:name, :string, { null: false }], [:beat_at, :bigint, { null: false }]].freeze

      def initialize(model)
        @model = model
      end

      def installed? = with_connection { |conn| conn.table_exists?(TABLE) }

      def install
        with_connection do |conn|
          next if conn.table_exists?(TABLE)

          conn.create_table(TABLE, id: false) { |t| COLUMNS.each { |name, type, options| t.column(name, type, **options) } }
          conn.add_index(TABLE, :name, unique: true)
        end
        self
      end

      # These workers are alive now.
      def beat(names)
        with_connection do |conn|
          now = now_sql(conn)
          names.each do |name|
            next if update(conn, "UPDATE #{TABLE} SET beat_at = #{now} WHERE name = ?", name).positive?

            insert_ignoring_duplicates(conn, TABLE, %w[name beat_at], "?, #{now}", name)
          end
        end
      end

      # Those of `names` not heard from for `timeout` seconds.
      def dead(names, timeout:)
        return [] if names.empty?

        with_connection do |conn|
          marks = (["?"] * names.size).join(", ")
          sql = bind(conn, "SELECT name FROM #{TABLE} WHERE name IN (#{marks}) AND beat_at < #{now_sql(conn)} - ?",
                     [*names, (timeout * 1000).round])
          conn.select_values(sql, "MiddleManagement::Store")
        end
      end

      def forget(names)
        return if names.empty?

        with_connection do |conn|
          update(conn, "DELETE FROM #{TABLE} WHERE name IN (#{(["?"] * names.size).join(", ")})", *names)
        end
      end
    end
  end
end
