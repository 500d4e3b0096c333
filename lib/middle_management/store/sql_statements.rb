require "middle_management/errors"
require "middle_management/store/sql_time_limit"

module MiddleManagement
  module Store
    # How the store's SQL runs, for Store::SQL and Store::Heartbeats: on a
    # connection of `@model`'s pool, borrowed for the moment and given back,
    # bounded in time (SQLTimeLimit; on SQLite the write lock is waited for
    # in Ruby), values quoted by that connection, times on the database's
    # clock.
    module SQLStatements
      private

      def with_connection(&block)
        @model.connection_pool.with_connection do |conn|
          sqlite?(conn) ? yielding_to_ruby(conn, &block) : SQLTimeLimit.within(conn, &block)
        end
      end

      def sqlite?(conn) = conn.adapter_name.match?(/sqlite/i)

      # SQLite's own busy timeout sleeps holding Ruby's GVL: a store write
      # waiting for the app's insert to commit would hold up the very thread
      # that must commit it, until the timeout fails one of them. This
      # handler sleeps in Ruby, which lets the app's thread go on meanwhile.
      def yielding_to_ruby(conn)
        timeout = Integer(conn.pool.db_config.configuration_hash.fetch(:timeout, 5_000))
        raw = conn.raw_connection
        raw.busy_handler { |tries| tries * 5 < timeout && sleep(0.005) }
        yield conn
      ensure
        raw&.busy_timeout(timeout)
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

      def update(conn, sql, *binds)
        conn.exec_update(bind(conn, sql, binds), "MiddleManagement::Store")
      end

      def select(conn, sql, *binds)
        conn.select_one(bind(conn, sql, binds), "MiddleManagement::Store")
      end

      # Two processes may insert one key at once: the unique index keeps one,
      # and the other's insert does nothing. `values`: SQL, with `?` for binds.
      def insert_ignoring_duplicates(conn, table, columns, values, *binds)
        mysql = conn.adapter_name.match?(/mysql|trilogy/i)
        update(conn, "INSERT #{"IGNORE " if mysql}INTO #{table} (#{columns.join(", ")}) VALUES (#{values})" \
                     "#{" ON CONFLICT DO NOTHING" unless mysql}", *binds)
      end

      # Values quoted by the connection that runs the statement (the jobs'
      # database may not be ActiveRecord::Base's). No `?` is ever literal here.
      def bind(conn, sql, binds)
        values = binds.dup
        sql.strip.gsub("?") { conn.quote(values.shift) }
      end
    end
  end
end
