require "json"
require "monitor"

module MiddleManagement
  module LocalFormation
    # One request as the server received it. `status` is nil while it is
    # being answered, and stays nil when a fault hangs or drops it
    # (`dropped` is then true).
    RecordedRequest = Struct.new(:method, :path, :query, :headers, :body, :at, :status, :dropped,
                                 keyword_init: true) do
      # headers are stored with lower-cased names.
      def header(name) = headers[name.to_s.downcase]

      # The body parsed as JSON, or nil when there is none or it is not JSON.
      def json
        body.nil? || body.empty? ? nil : JSON.parse(body)
      rescue JSON::ParserError
        nil
      end

      def patch? = method == "PATCH"
    end

    # Every request the server received, in arrival order, shared between the
    # HTTP threads and the test that inspects them. Waiting on it replaces
    # sleeping in tests: a request that was recorded has also been answered
    # (or is being held by a fault).
    class RequestLog
      def initialize
        @lock = Monitor.new
        @changed = @lock.new_cond
        @requests = []
      end

      def record(request)
        @lock.synchronize do
          @requests << request
          @changed.broadcast
        end
        request
      end

      def answered(request, status)
        settle(request) { request.status = status }
      end

      # Hung or dropped: settled as far as waiting is concerned.
      def dropped(request)
        settle(request) { request.dropped = true }
      end

      # Copies: the caller may keep them while requests keep coming.
      def all = @lock.synchronize { @requests.map(&:dup) }

      def patches = all.select(&:patch?)

      def last = @lock.synchronize { @requests.last&.dup }

      def count = @lock.synchronize { @requests.size }

      def clear = @lock.synchronize { @requests.clear }

      # Blocks until the block, given the settled requests (answered, hung or
      # dropped), is true; false after `timeout` seconds.
      def wait(timeout)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        @lock.synchronize do
          until yield(@requests.select { |request| request.status || request.dropped })
            left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            return false if left <= 0

            @changed.wait(left)
          end
          true
        end
      end

      private

      def settle(request)
        @lock.synchronize do
          yield
          @changed.broadcast
        end
      end
    end
  end
end
