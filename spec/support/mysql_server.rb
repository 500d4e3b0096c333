require "etc"
require "fileutils"
require_relative "throwaway_server"
require "tmpdir"

# A throwaway MariaDB (MySQL) server on a free loopback port: a data
# directory of its own, no grant tables (anyone on 127.0.0.1 may connect),
# stopped and removed after the group that asked for it.
#
#   include_context "a mysql server"
#   ActiveRecord::Base.establish_connection(mysql_server.config)
#
# As root the server runs as Debian's `mysql` user where there is one (it
# then owns the directory), else as root (`--user=root`, which it asks for).
class MysqlServer
  SERVER = %w[/usr/sbin/mariadbd /usr/sbin/mysqld].find { |path| File.executable?(path) }
  INSTALL = %w[/usr/bin/mariadb-install-db /usr/bin/mysql_install_db].find { |path| File.executable?(path) }
  START_TIMEOUT = 30
  DATABASE = "middle_management_test".freeze
  USER = "mysql".freeze

  attr_reader :port

  def self.available?
    return false unless SERVER && INSTALL

    require "mysql2"
    true
  rescue LoadError
    false
  end

  def self.start = new.start

  def config(pool: 20)
    { adapter: "mysql2", host: "127.0.0.1", port: port, username: "root", database: DATABASE, pool: pool }
  end

  def start
    raise "MariaDB is not installed (mariadb-server, ruby-mysql2)" unless self.class.available?

    @dir = Dir.mktmpdir("middle_management-mysql")
    FileUtils.chown_R(USER, nil, @dir) if user == ["--user=#{USER}"]
    install
    3.times do
      @port = ThrowawayServer.free_port
      @process = ChildProcess.new({}, SERVER, "--no-defaults", "--datadir=#{data}", "--socket=#{File.join(@dir, "sock")}",
                                  "--port=#{port}", "--bind-address=127.0.0.1", "--skip-grant-tables",
                                  "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", *user)
      return self if ready? && create_database

      @process.stop(grace: 5)
    end
    raise "mariadbd did not start:\n#{@process.output}"
  end

  def stop
    @process&.stop(grace: 10) # TERM: a clean shutdown
    @process = nil
    FileUtils.remove_entry(@dir) if @dir && File.directory?(@dir)
    @dir = nil
  end

  private

  def data = File.join(@dir, "data")

  def user
    return [] unless Process.uid.zero?

    Etc.getpwnam(USER) ? ["--user=#{USER}"] : ["--user=root"]
  rescue ArgumentError # no such user
    ["--user=root"]
  end

  def install
    output, status = Deadlines.capture_within(INSTALL, "--no-defaults", "--datadir=#{data}", "--skip-test-db",
                                              "--auth-root-authentication-method=normal", *user, timeout: 120)
    status&.success? or raise "mariadb-install-db failed:\n#{output}"
  end

  def ready?
    Deadlines.await("mariadbd to accept connections on port #{port}", timeout: START_TIMEOUT,
                                                                       saw: -> { @process.output.lines.last(5).join }) do
      !@process.running? || connect { true }
    end
    @process.running?
  rescue Deadlines::Expired
    false
  end

  def create_database
    connect { |client| client.query("CREATE DATABASE #{DATABASE}") }
    true
  end

  def connect
    client = Mysql2::Client.new(host: "127.0.0.1", port: port, username: "root", connect_timeout: 2)
    yield client
  rescue Mysql2::Error
    false
  ensure
    client&.close
  end
end

ThrowawayServer.shared_context("a mysql server", MysqlServer, :mysql_server,
                               missing: "MariaDB is not installed (mariadb-server-core, ruby-mysql2)")
