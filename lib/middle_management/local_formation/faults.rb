require "monitor"

module MiddleManagement
  module LocalFormation
    # Misbehaviour to inject, for testing how a client copes with Heroku (or
    # its router) failing. Queued faults answer the next requests in order,
    # before any validation, the way an outage ignores what was asked.
    #
    # Waits (delay, hang) are interruptible: `release!` (called when the
    # server stops) wakes them all, so stopping never waits on a fault.
    class Faults
      # A fixed answer; `rate_limit_remaining` overrides the counter; `headers`
      # are added (ETag, ranges).
      Canned = Struct.new(:status, :content_type, :body, :rate_limit_remaining, :headers, keyword_init: true)
      # Read the request, then close the connection without answering.
      DROP = :drop
      MALFORMED_BODY = "<!DOCTYPE html><html><head><title>Application Error</title></head><body>oops</body></html>"

      def initialize
        @lock = Monitor.new
        @released_or_resumed = @lock.new_cond
        @queue = []
        @delay = 0
        @hanging = false
        @released = false
      end

      def push(count, fault)
        @lock.synchronize { count.times { @queue << fault } }
      end

      def shift = @lock.synchronize { @queue.shift }

      def pending = @lock.synchronize { @queue.size }

      def delay = @lock.synchronize { @delay }

      def delay=(seconds)
        @lock.synchronize { @delay = seconds.to_f }
      end

      def hang! = @lock.synchronize { @hanging = true }

      # Later requests are answered again; the ones already held stay held
      # until the server stops, as a hung connection never recovers.
      def resume!
        @lock.synchronize do
          @hanging = false
          @released_or_resumed.broadcast
        end
      end

      def hanging? = @lock.synchronize { @hanging }

      def clear
        @lock.synchronize do
          @queue.clear
          @delay = 0
          @hanging = false
        end
      end

      # Holds the calling request until the server stops.
      def hold
        @lock.synchronize { @released_or_resumed.wait until @released }
      end

      # Sleeps `seconds`, or less if the server stops meanwhile.
      def pause(seconds)
        return if seconds <= 0

        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
        @lock.synchronize do
          until @released
            left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            break if left <= 0

            @released_or_resumed.wait(left)
          end
        end
      end

      def release!
        @lock.synchronize do
          @released = true
          @released_or_resumed.broadcast
        end
      end
    end
  end
end
