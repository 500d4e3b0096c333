require "socket"
require_relative "throwaway_server"
require "tmpdir"
require "fileutils"

# A real redis-server on a free loopback port, for the Redis-backed job
# libraries. Nothing is started until a group asks:
#
#   RSpec.describe "Sidekiq integration" do
#     include_context "a redis server"   # one server for the group, stopped after it
#     it { Redis.new(url: redis_server.url).ping }
#   end
#
# or by hand: `server = RedisServer.start; ...; server.stop`.
class RedisServer
  BINARY = ENV.fetch("REDIS_SERVER", "/usr/bin/redis-server")
  START_TIMEOUT = 10
  STOP_TIMEOUT = 5

  attr_reader :port, :pid, :dir

  def self.available?
    File.executable?(BINARY)
  end

  def self.start
    new.start
  end

  # A URL where nothing listens: a Redis that is down.
  def self.closed_url
    server = TCPServer.new("127.0.0.1", 0)
    "redis://127.0.0.1:#{server.addr[1]}/0"
  ensure
    server&.close
  end

  def url(db = 0)
    "redis://127.0.0.1:#{port}/#{db}"
  end

  def start
    raise "#{BINARY} is not installed" unless self.class.available?

    @dir = Dir.mktmpdir("middle_management-redis")
    @log = File.join(@dir, "redis.log")
    3.times do
      @port = ThrowawayServer.free_port
      @pid = Process.spawn(BINARY, "--port", @port.to_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--daemonize", "no", "--dir", @dir, "--logfile", @log,
                           in: File::NULL, out: File::NULL, err: File::NULL, pgroup: true)
      @guard = OrphanGuard.new(@pid, signal: "TERM", remove: @dir)
      return self if wait_until_ready

      stop_process # another process took the port between our check and its bind: try another
    end
    raise "redis-server did not start: #{File.exist?(@log) ? File.read(@log)[-2000..] : "no log"}"
  end

  def running?
    !@pid.nil?
  end

  def ping?
    command("PING") == "+PONG"
  end

  # Empties every database (between examples).
  def flush!
    command("FLUSHALL") == "+OK" or raise "FLUSHALL failed on #{url}"
  end

  def stop
    stop_process
    FileUtils.remove_entry(@dir) if @dir && File.directory?(@dir)
    @dir = nil
  end

  private

  def wait_until_ready
    deadline = monotonic + START_TIMEOUT
    while monotonic < deadline
      if Process.waitpid(@pid, Process::WNOHANG) # it exited: the port was taken
        @pid = nil
        return false
      end
      return true if ping?

      sleep 0.02
    end
    false
  end

  def stop_process
    @guard&.release
    @guard = nil
    return unless @pid

    pid = @pid
    @pid = nil
    Process.kill("TERM", pid)
    deadline = monotonic + STOP_TIMEOUT
    until Process.waitpid(pid, Process::WNOHANG)
      if monotonic > deadline
        Process.kill("KILL", pid)
        Process.waitpid(pid)
        break
      end
      sleep 0.02
    end
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  # One inline command over a fresh connection; nil when nothing answers.
  def command(name)
    socket = Socket.tcp("127.0.0.1", @port, connect_timeout: 1)
    socket.write("#{name}\r\n")
    socket.wait_readable(2) ? socket.gets&.chomp : nil
  rescue SystemCallError, IOError
    nil
  ensure
    socket&.close
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end

if defined?(RSpec) # benchmarks start servers too
  RSpec.shared_context "a redis server" do
    before(:context) do
      skip "redis-server is not installed (#{RedisServer::BINARY})" unless RedisServer.available?
      @redis_server = RedisServer.start
    end

    after(:context) { @redis_server&.stop }

    before { redis_server&.flush! }

    def redis_server
      @redis_server
    end
  end
end
