require "socket"
require "middle_management/store/sql_statements"

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
    # GoodJob's and Solid Queue's workers beat here too, under a name of
    # the same shape (Heartbeats.process_name): their own process rows carry
    # the host name and pid, never the dyno, so this is where a count finds
    # which dyno a busy job is on (#dynos).
    #
    # A silence of everyone is not death: when the database was down (or
    # every worker was stopped), no one could beat, and the first count
    # after would take every live worker for dead and run its job again.
    # Two rows say when anyone last beat (LAST) and when beats resumed
    # after a silence (RESUMED); nobody is judged dead while beats are not
    # flowing, nor until they have flowed for half a timeout, time for
    # every live worker to be heard again.
    #
    # The table middle_management_workers, in the jobs' database, beside the
    # store's own; times are the database's clock.
    class Heartbeats
      include SQLStatements

      TABLE = "middle_management_workers".freeze
      COLUMNS = [[:name, :string, { null: false }], [:beat_at, :bigint, { null: false }]].freeze
      FORGOTTEN_AFTER = 86_400_000 # ms: a worker silent for a day is gone by any library's measure
      LAST = "*last".freeze # no worker's name starts with "*"
      RESUMED = "*resumed".freeze

      # This process, as a worker beats: "worker.3 host:… pid:…" (Delayed
      # Job's worker name, with its dyno first). Nil without a DYNO.
      def self.process_name(dyno = ENV["DYNO"], host: Socket.gethostname, pid: Process.pid)
        "#{dyno} host:#{host} pid:#{pid}" if dyno && !dyno.empty?
      end

      # The heartbeats of `model`'s database, or nil when their table is not
      # installed there: looked up once per database (a catalog query), not
      # at every count or beat.
      def self.installed_for(model)
        pool = model.connection_pool
        @installed ||= {}.compare_by_identity
        found = @installed.fetch(pool) { @installed[pool] = new(model).then { |h| h.installed? ? h : false } }
        found || nil
      end

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

      # These workers are alive now. The first beat of a process also
      # forgets the workers silent for a day.
      def beat(names, timeout: MiddleManagement.agent&.configuration&.worker_timeout || 60)
        forget_silent unless @forgot_silent
        @forgot_silent = true
        with_connection do |conn|
          last, now = select(conn, "SELECT (SELECT beat_at FROM #{TABLE} WHERE name = ?) AS last, #{now_sql(conn)} AS now",
                             LAST).values_at("last", "now")
          # Beats come every timeout / 4: a silence of twice that is everyone's.
          stamp(conn, RESUMED) if last.nil? || Integer(last) < Integer(now) - (timeout * 500).round
          [*names, LAST].each { |name| stamp(conn, name) }
        end
      end

      # Those of `names` not heard from for `timeout` seconds, while beats
      # flow and have flowed for that long (none otherwise).
      def dead(names, timeout:)
        return [] if names.empty?

        with_connection do |conn|
          timeout_ms = (timeout * 1000).round
          marks = select(conn, "SELECT (SELECT beat_at FROM #{TABLE} WHERE name = ?) AS last, " \
                               "(SELECT beat_at FROM #{TABLE} WHERE name = ?) AS resumed, #{now_sql(conn)} AS now",
                         LAST, RESUMED)
          last, resumed, now = marks.values_at("last", "resumed", "now").map { |value| value&.then { Integer(_1) } }
          # Workers beat every timeout / 4: within half a timeout, each live one has.
          next [] if last.nil? || resumed.nil? || last < now - (timeout_ms / 2) || resumed > now - (timeout_ms / 2)

          marks = (["?"] * names.size).join(", ")
          sql = bind(conn, "SELECT name FROM #{TABLE} WHERE name IN (#{marks}) AND beat_at < #{now_sql(conn)} - ?",
                     [*names, (timeout * 1000).round])
          conn.select_values(sql, "MiddleManagement::Store")
        end
      end

      # The dyno of each process in `processes` ([host, pid] pairs, as the
      # libraries' process rows carry them) whose worker beat here: a Hash
      # from pair to dyno name (`worker.3`); a process not found is left out.
      def dynos(processes)
        return {} if processes.empty?

        with_connection do |conn|
          likes = processes.map { |host, pid| "% host:#{escape_like(host)} pid:#{escape_like(pid)}" }
          sql = bind(conn, "SELECT name FROM #{TABLE} WHERE #{(["name LIKE ? ESCAPE '!'"] * likes.size).join(" OR ")}",
                     likes)
          conn.select_values(sql, "MiddleManagement::Store").to_h do |name|
            dyno, host, pid = name.match(/\A(\S+) host:(.*) pid:(\d+)\z/)&.captures
            [[host, pid.to_i], dyno]
          end.slice(*processes.map { |host, pid| [host, pid.to_i] })
        end
      end

      def forget_silent
        with_connection do |conn|
          update(conn, "DELETE FROM #{TABLE} WHERE beat_at < #{now_sql(conn)} - ? AND name NOT IN (?, ?)",
                 FORGOTTEN_AFTER, LAST, RESUMED)
        end
      end

      def forget(names)
        return if names.empty?

        with_connection do |conn|
          update(conn, "DELETE FROM #{TABLE} WHERE name IN (#{(["?"] * names.size).join(", ")})", *names)
        end
      end

      private

      def stamp(conn, name)
        now = now_sql(conn)
        return if update(conn, "UPDATE #{TABLE} SET beat_at = #{now} WHERE name = ?", name).positive?

        insert_ignoring_duplicates(conn, TABLE, %w[name beat_at], "?, #{now}", name)
      end

      def escape_like(value) = value.to_s.gsub(/[!%_]/) { |c| "!#{c}" }
    end
  end
end
