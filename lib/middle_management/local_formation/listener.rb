require "socket"
begin
  require "webrick"
rescue LoadError => e
  # Ruby 3 no longer ships WEBrick. The gem depends on it, but `gem install
  # --ignore-dependencies` or the gem's lib/ on the load path go without.
  raise LoadError, "middle_management's local formation (`middle_management local`) needs " \
                   "WEBrick, which Ruby 3 no longer includes: add `gem \"webrick\"` to your Gemfile " \
                   "(or `gem install webrick`) (#{e.message})"
end

module MiddleManagement
  module LocalFormation
    # WEBrick, quiet, with every request handed to one callable, and a stop
    # that does not linger: WEBrick joins its connection threads on shutdown
    # and an idle keep-alive connection only notices after its 0.5 s poll, so
    # stopping wakes those connections instead of waiting for them (a test
    # suite starts and stops many servers).
    class Listener < WEBrick::HTTPServer
      def initialize(handler, host:, port:)
        @handler = handler
        @connections = {}
        @connections_lock = Mutex.new
        @running = Queue.new
        super(
          BindAddress: host, Port: port, DoNotReverseLookup: true,
          Logger: WEBrick::Log.new(File::NULL, WEBrick::BasicLog::FATAL), AccessLog: [],
          StartCallback: -> { @running << true }
        )
      end

      def port = config[:Port]

      # Serves on a new thread; returns once the accept loop runs.
      def start_in_background
        thread = Thread.new { start }
        thread.name = "local-formation-http"
        thread.report_on_exception = false
        @running.pop
        thread
      end

      def service(request, response)
        @handler.call(request, response)
      end

      def run(socket)
        # WEBrick writes a response's head and body separately: with Nagle's
        # algorithm the body then waits for the client's delayed ACK, 40 ms
        # on every keep-alive request.
        socket.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, true)
        @connections_lock.synchronize { @connections[socket] = true }
        super
      ensure
        @connections_lock.synchronize { @connections.delete(socket) }
      end

      def shutdown
        super
        # A connection waiting for its next request sees end-of-file and
        # ends; one in the middle of a request finishes it first.
        @connections_lock.synchronize { @connections.keys }.each do |socket|
          socket.shutdown(Socket::SHUT_RD)
        rescue IOError, SystemCallError
          nil # already closed by the client
        end
      end

      # Ends the current request's connection without an answer, as a
      # crashed router would. Only valid on a request thread.
      def self.drop_current_connection
        Thread.current[:WEBrickSocket]&.shutdown(Socket::SHUT_RDWR)
      rescue IOError, SystemCallError
        nil
      end
    end
  end
end
