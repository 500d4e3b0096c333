module MiddleManagement
  # This process's job workers, by the names their locks carry (Delayed
  # Job's), and their heartbeat: the coordinator thread says in the store
  # every quarter of WORKER_TIMEOUT that they are alive, so that if this
  # process dies their jobs are soon taken back (Store::Heartbeats).
  class WorkerHeartbeat
    def initialize(backends, every:, log:)
      @backends = backends
      @every = every
      @log = log
      @names = []
      @lock = Mutex.new
      @beat_at = nil
    end

    # Beats for a new worker at once, on its own thread, before it takes
    # a job: a lock it takes is always one whose holder has beaten (a holder
    # that never beat is never taken for dead). A worker known already
    # (GoodJob's and Solid Queue's say so at every job) costs nothing.
    def add(name)
      added = @lock.synchronize { @names.include?(name) ? false : @names << name }
      beat([name]) if added
    end

    def beat_if_due
      names = @lock.synchronize do
        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        next [] if @names.empty? || (@beat_at && now - @beat_at < @every)

        @beat_at = now
        @names.dup
      end
      beat(names) if names.any?
    end

    private

    def beat(names)
      @backends.each { |backend| backend.beat(names) if backend.respond_to?(:beat) }
    rescue StandardError => e
      @log.failure("could not record that this process's workers are alive", e)
    end
  end
end
