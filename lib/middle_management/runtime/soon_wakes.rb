module MiddleManagement
  module Runtime
    # Wakes owed a moment from now. GoodJob and Solid Queue record that a job
    # has ended (finished_at, the claim deleted, the lock released) after
    # Active Job's perform event, the last hook either gives: a count made at
    # the event would still see the job running, and nothing would wake the
    # app once it is not. So the event asks for a wake SETTLE seconds later,
    # which the coordinator thread delivers (#due, between its messages).
    class SoonWakes
      SETTLE = 0.5 # seconds: the library's own writes after the event take milliseconds

      def initialize
        @lock = Mutex.new
        @at = {} # pool index => monotonic time of its wake
      end

      # `now`: the monotonic clock's seconds (given by the specs).
      def add(pool_index, now: monotonic)
        @lock.synchronize { @at[pool_index] ||= now + SETTLE }
      end

      # The pools whose wake is due, forgotten as they are handed out.
      def due(now: monotonic)
        @lock.synchronize { @at.select { |_, at| at <= now }.keys.each { |index| @at.delete(index) } }
      end

      # Seconds until the next one, or nil for none.
      def next_in(now: monotonic)
        @lock.synchronize { @at.values.min&.then { |at| [at - now, 0.0].max } }
      end

      private

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
