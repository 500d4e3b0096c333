require "middle_management/store/sql_statements"
require "middle_management/store/history"

module MiddleManagement
  module Store
    # The scaling history in the jobs' database: the table
    # middle_management_history, a row per entry (Store::History), the
    # figures as JSON text. The page reads one pool over a time range, so
    # (process_type, at) is indexed; pruning deletes by time alone, so
    # `at` is indexed too. A table installed before history existed lacks
    # it: history is off until the app installs it (MISSING), and the
    # store scales as before.
    class SQLHistory
      include SQLStatements

      TABLE = "middle_management_history".freeze
      # [name, type, options]; the id column is ActiveRecord's default.
      COLUMNS = [
        [:process_type, :string, { null: false }],
        [:kind, :string, { null: false, limit: 16 }],
        [:at, :bigint, { null: false }],
        [:figures, :text, {}]
      ].freeze
      # [columns, options], for Store::SQL#install and the generator's migration.
      INDEXES = [
        [%i[process_type at], { name: "index_middle_management_history_on_process_type_and_at" }],
        [%i[at], { name: "index_middle_management_history_on_at" }]
      ].freeze
      MISSING = "the coordination store has no history table, so no scaling history is kept: run " \
                "`rails generate middle_management:install && rails db:migrate` " \
                "(MiddleManagement::Store.install outside Rails) to add it".freeze

      def initialize(model)
        @model = model
      end

      # Looked up once (a catalog query), not at every write.
      def installed?
        @installed = with_connection { |conn| conn.table_exists?(TABLE) } if @installed.nil?
        @installed
      end

      def install
        with_connection do |conn|
          unless conn.table_exists?(TABLE)
            conn.create_table(TABLE) { |t| COLUMNS.each { |name, type, options| t.column(name, type, **options) } }
          end
          INDEXES.each do |columns, options|
            conn.add_index(TABLE, columns, **options) unless conn.index_name_exists?(TABLE, options[:name])
          end
        end
        @installed = true
        self
      end

      # One INSERT for every entry and, with `prune_before` (store ms), one
      # DELETE of what is older.
      def record(entries, prune_before: nil)
        with_connection do |conn|
          unless entries.empty?
            now = now_sql(conn)
            rows = entries.map { |entry| "(?, ?, #{entry.at ? "?" : now}, ?)" }.join(", ")
            binds = entries.flat_map { |entry| [entry.pool, entry.kind.to_s, *entry.at, History.encode(entry)] }
            update(conn, "INSERT INTO #{TABLE} (process_type, kind, at, figures) VALUES #{rows}", *binds)
          end
          update(conn, "DELETE FROM #{TABLE} WHERE at < ?", Integer(prune_before)) if prune_before
        end
      end

      # `pool`'s entries since `since` (store ms), oldest first.
      def read(pool, since:, kinds: nil)
        kinds = History.kinds(kinds)
        return [] if kinds.empty?

        with_connection do |conn|
          sql = bind(conn, "SELECT kind, at, figures FROM #{TABLE} WHERE process_type = ? AND at >= ? " \
                           "AND kind IN (#{(["?"] * kinds.size).join(", ")}) ORDER BY at, id",
                     [pool, Integer(since), *kinds.map(&:to_s)])
          History.decode_rows(pool, conn.select_rows(sql, "MiddleManagement::Store"))
        end
      end
    end
  end
end
