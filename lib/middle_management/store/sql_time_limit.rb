module MiddleManagement
  module Store
    # Bounds how long the gem's own SQL (the store's claims, the counts) may
    # take on a borrowed connection, so a database that is slow or has the
    # store's row locked delays a decision instead of holding the gem's thread
    # and a connection: the statement fails, the decision is logged as failed
    # and tried again later. The app's settings on that connection are left as
    # they were.
    #
    # - PostgreSQL: `SET LOCAL statement_timeout` in a transaction of the
    #   gem's own (it ends with the block).
    # - MySQL and MariaDB: `innodb_lock_wait_timeout` for the block (their
    #   reads never wait for row locks; the store's UPDATEs may), restored after.
    # - SQLite: its busy timeout already bounds every wait (Store::SQL waits
    #   for the write lock in Ruby, up to the connection's `timeout`).
    #
    # Inside a transaction the app opened on this connection nothing is set:
    # a limit would outlive the block and bind the app's own statements.
    module SQLTimeLimit
      LIMIT = 2.0 # seconds; a count or a claim takes milliseconds

      class << self
        attr_writer :limit

        def limit = @limit || LIMIT

        def within(conn)
          return yield(conn) if conn.transaction_open?

          case conn.adapter_name
          when /postg/i then postgresql(conn) { yield conn }
          when /mysql|trilogy/i then mysql(conn) { yield conn }
          else yield conn
          end
        end

        private

        def postgresql(conn)
          conn.transaction do
            conn.execute("SET LOCAL statement_timeout = #{(limit * 1000).ceil}")
            yield
          end
        end

        def mysql(conn)
          before = conn.select_value("SELECT @@SESSION.innodb_lock_wait_timeout")
          conn.execute("SET SESSION innodb_lock_wait_timeout = #{[limit.ceil, 1].max}")
          begin
            yield
          ensure
            conn.execute("SET SESSION innodb_lock_wait_timeout = #{Integer(before)}")
          end
        end
      end
    end
  end
end
