require "middle_management/reporter"

module MiddleManagement
  # The gem's presence in one process: owns the native dispatcher (started on
  # first use, and again after a fork), the reporter thread, and the job
  # libraries' counters. Hooks call #record; nothing here raises into them.
  class Agent
    EXIT_TIMEOUT = 2.0 # seconds an exiting process waits to deliver its last decision

    attr_reader :configuration, :backends

    def initialize(configuration, logger:)
      @configuration = configuration
      @log = Log.new(logger)
      @pools = configuration.pools
      @backends = []
      @queue_pools = {}
      @mutex = Mutex.new
      @pid = nil
      announce_disabled if disabled_reason
    end

    def disabled_reason
      configuration.disabled_reason
    end

    # For the backends' hooks: logged once per kind of failure, never raises.
    def log_failure(what, error)
      @log.failure(what, error)
    end

    def add_backend(backend)
      @mutex.synchronize { @backends << backend unless @backends.include?(backend) }
    end

    # A hook saw jobs change on `queue`. `due_in`: seconds until a job
    # scheduled for later becomes runnable.
    def record(queue, runnable: 0, running: 0, due_in: nil)
      (dispatcher = self.dispatcher) && dispatcher.adjust(pool_index(queue), runnable, running, due_in)
    rescue StandardError => e
      @log.failure("could not record a job change", e)
      nil
    end

    # Nothing changed, but this is a good moment to recount if counts are
    # stale (a worker that found nothing to do).
    def poke
      (dispatcher = self.dispatcher) && @pools.each_index { |i| dispatcher.adjust(i, 0, 0, nil) }
    rescue StandardError => e
      @log.failure("could not poke the dispatcher", e)
    end

    # Sends whatever is pending now and waits up to `timeout` seconds for it.
    def flush(timeout = 5.0)
      dispatcher = current_dispatcher or return true
      dispatcher.flush(timeout.to_f)
    end

    def status
      base = { enabled: disabled_reason.nil?, disabled_reason: disabled_reason }
      dispatcher = current_dispatcher or return base.merge(pools: [], calls: 0, errors: 0)
      status = dispatcher.status
      status[:pools].each { |pool| pool[:last_call_at] &&= Time.at(pool[:last_call_at]) }
      base.merge(status)
    end

    # Counts jobs for the dispatcher, on the reporter thread. A library that
    # cannot count (its Redis is down) is left out and logged; the others'
    # counts still go through.
    def recount(pool_index)
      dispatcher = current_dispatcher or return
      pool = @pools.fetch(pool_index)
      counts = @backends.filter_map do |backend|
        backend.count(pool)
      rescue StandardError => e
        @log.failure("could not count #{backend.name.split("::").last} jobs for #{pool.name}", e)
        nil
      end
      return if counts.empty? && @backends.any?

      marker = dispatcher.count_marker # after counting: see Dispatcher::count_marker
      next_run_in = counts.filter_map(&:next_run_in).min
      dispatcher.counted(pool_index, marker, counts.sum(&:runnable), counts.sum(&:running), next_run_in)
    end

    def stop
      @mutex.synchronize do
        next unless @pid == Process.pid

        @reporter&.stop
        @dispatcher&.shutdown
        @pid = @dispatcher = @reporter = nil
      end
    end

    def at_exit_flush
      flush(EXIT_TIMEOUT) or @log.warn("exiting before Heroku confirmed the last change")
    rescue StandardError => e
      @log.failure("could not deliver the last change at exit", e)
    end

    # The dispatcher of this process, started on first use and again in a
    # forked child (the parent's belongs to the parent).
    def dispatcher
      return @dispatcher if @pid == Process.pid
      return nil if disabled_reason

      @mutex.synchronize { start unless @pid == Process.pid }
      @dispatcher
    end

    private

    def current_dispatcher
      @dispatcher if @pid == Process.pid
    end

    def start
      @dispatcher = Native::Dispatcher.new(configuration.native_settings)
      @reporter = Reporter.new(self, @dispatcher, @log)
      @pid = Process.pid
      @pools.each { |pool| @log.info(pool.capped_note) if pool.capped_note }
    end

    def pool_index(queue)
      @queue_pools[queue] ||= @pools.index { |pool| pool.covers?(queue) } || 0
    end

    def announce_disabled
      @log.info("disabled: #{disabled_reason}; jobs are enqueued as usual and no workers are scaled")
    end
  end
end
