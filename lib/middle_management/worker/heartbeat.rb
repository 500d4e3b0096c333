module MiddleManagement
  module Worker
    # This process's job workers, by the names their locks carry (Delayed
    # Job's), and their heartbeat: a thread of its own says in the store every
    # quarter of WORKER_TIMEOUT that they are alive, so that if this process
    # dies their jobs are soon taken back (Store::Heartbeats). It depends on
    # nothing else of the gem: a worker whose decisions fail still beats, or
    # another process would take its live jobs for a dead one's.
    class Heartbeat
      def initialize(backends, every:, log:)
        @backends = backends
        @every = every
        @log = log
        @names = []
        @lock = Mutex.new
        @pid = nil
      end

      # Beats for a new worker at once, on its own thread, before it takes
      # a job: a lock it takes is always one whose holder has beaten (a holder
      # that never beat is never taken for dead). A worker known already
      # (GoodJob's and Solid Queue's say so at every job) costs nothing.
      def add(name)
        added = @lock.synchronize do
          forget_parent
          @names.include?(name) ? false : @names << name
        end
        return unless added

        beat([name])
        start
      end

      def stop
        @thread&.kill
      end

      private

      # A forked child's workers are its own, and its parent's thread did not
      # come with it.
      def forget_parent
        return if @pid == Process.pid

        @names = []
        @thread = nil
        @pid = Process.pid
      end

      def start
        @lock.synchronize do
          next if @thread&.alive?

          @thread = Thread.new { run }
          @thread.name = "middle_management heartbeat"
          @thread.report_on_exception = false
        end
      end

      def run
        loop do
          sleep @every
          beat(@lock.synchronize { @names.dup })
        end
      end

      def beat(names)
        @backends.each { |backend| backend.beat(names) }
      rescue SystemExit, SignalException
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- the beat must go on after any fault
        @log.failure("could not record that this process's workers are alive", e)
      end
    end
  end
end
