require "json"
require "etc"
require "fileutils"
require_relative "throwaway_server"
require "tmpdir"

# A throwaway PostgreSQL cluster on a free loopback port, as most Heroku
# apps run on: initdb into a temp dir, `postgres` started, stopped and
# removed after the group that asked for it.
#
#   RSpec.describe "…" do
#     include_context "a postgres server"
#     it { ActiveRecord::Base.establish_connection(postgres_server.config) }
#   end
#
# initdb and postgres refuse to run as root (CI runs as root): as root they
# run as Debian's `postgres` user, in a directory that user owns.
class PostgresServer
  BIN = ENV.fetch("POSTGRES_BIN", Dir["/usr/lib/postgresql/*/bin"].max_by { |dir| dir[/\d+/].to_i } || "/usr/lib/postgresql/15/bin")
  START_TIMEOUT = 30
  DATABASE = "middle_management_test".freeze
  USER = "postgres".freeze

  attr_reader :port

  def self.available?
    File.executable?(File.join(BIN, "postgres")) && gem_available?
  end

  def self.gem_available?
    require "pg"
    true
  rescue LoadError
    false
  end

  def self.start = new.start

  # ActiveRecord's connection settings for the test database.
  def config(pool: 20)
    { adapter: "postgresql", host: "127.0.0.1", port: port, username: USER, database: DATABASE, pool: pool }
  end

  def url = "postgres://#{USER}@127.0.0.1:#{port}/#{DATABASE}"

  def start
    raise "PostgreSQL is not installed (#{BIN})" unless self.class.available?

    @dir = Dir.mktmpdir("middle_management-postgres")
    FileUtils.mkdir_p([data, sockets])
    FileUtils.chown_R(USER, nil, @dir) if Process.uid.zero?
    initdb
    3.times do
      @port = ThrowawayServer.free_port
      @process = ChildProcess.new({}, File.join(BIN, "postgres"), "-D", data, "-p", port.to_s,
                                  "-k", sockets, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                  "-c", "synchronous_commit=off", "-c", "full_page_writes=off", stop_signal: "INT", **as_postgres)
      return self if ready? && create_database

      @process.stop(grace: 5) # another process took the port between our check and its bind: try another
    end
    raise "postgres did not start:\n#{@process.output}"
  end

  def stop
    @process&.stop(grace: 10) # INT: PostgreSQL's fast shutdown
    @process = nil
    FileUtils.remove_entry(@dir) if @dir && File.directory?(@dir)
    @dir = nil
  end

  private

  def data = File.join(@dir, "data")
  def sockets = File.join(@dir, "sockets")

  # Spawn options: as root, run as the postgres user.
  def as_postgres
    return {} unless Process.uid.zero?

    user = Etc.getpwnam(USER)
    { uid: user.uid, gid: user.gid }
  end

  def initdb
    output, status = Deadlines.capture_within(File.join(BIN, "initdb"), "-D", data, "-U", USER, "-A", "trust",
                                              "-E", "UTF8", "--no-sync", timeout: 60, **as_postgres)
    status&.success? or raise "initdb failed:\n#{output}"
  end

  def ready?
    Deadlines.await("postgres to accept connections on port #{port}", timeout: START_TIMEOUT,
                                                                       saw: -> { @process.output.lines.last(5).join }) do
      !@process.running? || connect("postgres") { true }
    end
    @process.running?
  rescue Deadlines::Expired
    false
  end

  def create_database
    connect("postgres") { |conn| conn.exec("CREATE DATABASE #{DATABASE}") }
    true
  end

  def connect(database)
    conn = PG.connect(host: "127.0.0.1", port: port, user: USER, dbname: database, connect_timeout: 2)
    yield conn
  rescue PG::ConnectionBad
    false
  ensure
    conn&.close
  end
end

ThrowawayServer.shared_context("a postgres server", PostgresServer, :postgres_server,
                               missing: "PostgreSQL is not installed (#{PostgresServer::BIN}, ruby-pg)")

if defined?(RSpec)
  # The demo's tables (delayed_jobs, the store's) on the throwaway cluster,
  # through an abstract model of their own, `@model`, so that the suite's
  # own connection is left alone.
  RSpec.shared_context "a postgres jobs database" do
    include_context "a postgres server"

    before(:context) do
      next unless postgres_server

      @model = Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        define_singleton_method(:name) { "PostgresJobsDatabase" }
      end
      @model.establish_connection(postgres_server.config)
      DemoDatabase.define_tables(@model)
    end
    after(:context) { @model&.remove_connection }

    # A new app: no job, no store record, no history.
    def clear_app_tables
      ["delayed_jobs", MiddleManagement::Store::SQL::TABLE, MiddleManagement::Store::SQLHistory::TABLE].each do |table|
        @model.connection.execute("DELETE FROM #{table}")
      end
    end

    # The history's rows of one kind, oldest first: [at, figures as a Hash].
    def history_of(kind)
      @model.connection.select_rows("SELECT at, figures FROM #{MiddleManagement::Store::SQLHistory::TABLE} " \
                                    "WHERE kind = '#{kind}' ORDER BY at, id").map { |at, figures| [at.to_i, JSON.parse(figures)] }
    end

    # The first lines of a child process's script: this checkout's gem, and
    # Delayed Job on ActiveRecord connected to the throwaway cluster.
    def delayed_job_boot(pool: 5)
      <<~RUBY
        $LOAD_PATH.unshift #{File.expand_path("../../lib", __dir__).inspect}
        require "active_record"
        require "delayed_job"
        require "delayed_job_active_record"
        ActiveRecord::Base.establish_connection(#{postgres_server.config(pool: pool).inspect})
        ActiveRecord::Base.logger = nil
      RUBY
    end
  end
end
