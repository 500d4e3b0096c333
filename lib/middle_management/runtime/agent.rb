require "middle_management/log"
require "middle_management/store"
require "middle_management/backends"
require "middle_management/internal/native"
require "middle_management/runtime/coordinator"
require "middle_management/runtime/decision"
require "middle_management/runtime/alerter"
require "middle_management/runtime/history"
require "middle_management/runtime/measuring"
require "middle_management/runtime/soon_wakes"
require "middle_management/runtime/status"
require "middle_management/worker/drain"
require "middle_management/worker/heartbeat"

module MiddleManagement
  module Runtime
    # The gem's presence in one process: owns the native dispatcher (started on
    # first use, and again after a fork: this is the one place that notices a
    # fork), the coordinator thread, the job libraries' adapters and the
    # coordination store. Hooks call #wake; nothing here raises into them.
    class Agent
      EXIT_TIMEOUT = 2.0 # seconds an exiting process waits to deliver its last decision
      FINISH_GRACE = 0.5 # seconds past a flush's timeout to record Heroku's last answers
      QUEUES_REMEMBERED = 1_000 # queue names whose pool is remembered (an app may make up names without end)

      attr_reader :configuration, :backends, :pools

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
        configuration.disabled_reason || @start_failure
      end

      def inspect = "#<#{self.class.name} pools=#{@pools.map(&:name).inspect} backends=#{@backends.inspect}>"

      # For the backends' hooks: logged once per kind of failure, never raises.
      def log_failure(what, error)
        @log.failure(what, error)
      end

      # For the backends: a line worth the log (`note_once`: once per key).
      def note(message) = @log.info(message)
      def note_once(key, message) = @log.once(key, message)

      def add_backend(backend)
        @mutex.synchronize { @backends << backend unless @backends.include?(backend) }
      end

      # A hook saw a job change on `queue` (`due_in`: seconds until a job
      # scheduled for later is due). Only wakes the dispatcher: the decision is
      # made elsewhere, from a fresh count.
      def wake(queue, due_in: nil)
        (dispatcher = self.dispatcher) && dispatcher.wake(pool_index(queue), due_in&.to_f)
      rescue StandardError => e
        @log.failure("could not wake the dispatcher", e)
        nil
      end

      # A job on `queue` ended where the library records its end just after
      # saying so: wake a moment later, when a count sees it (SoonWakes, which
      # the coordinator thread delivers).
      def wake_soon(queue) = soon_wakes.add(pool_index(queue))

      def soon_wakes = @soon_wakes ||= SoonWakes.new

      # A job on `queue` ended after `seconds` (its library's hook timed
      # it): folded in memory, written once a minute (Measuring).
      def job_done(queue, seconds)
        measuring.job_done(pool_index(queue), seconds) unless disabled_reason
      rescue StandardError => e
        @log.failure("could not time a job", e)
      end

      # The pools' jobs and boots as measured (JOBS_PER_WORKER=auto).
      def measuring = @measuring ||= Measuring.new(@pools, history, @log)

      # What was measured of pool `name` (a Measures::Measured), for the
      # page: read from the store when this process's reading is a minute old.
      def measured(name)
        pool = @pools.find { |candidate| candidate.name == name } or return nil
        measuring.measured(store, pool, Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond))
      end

      # What the last day's traffic says to set for pool `name`
      # (Runtime::Tuner): a Tuner::Tuned, or nil while it is computed.
      def tuning(name)
        return nil unless @pools.any? { |pool| pool.name == name }

        tuner.latest(store, name, Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond))
      end

      # Loaded when the page first asks: no app process carries the simulator's code otherwise.
      def tuner
        require "middle_management/runtime/tuner"
        @tuner ||= Tuner.new(configuration, @pools, @log)
      end

      # The scaling history's writer and reader (MIDDLE_MANAGEMENT_HISTORY).
      def history = @history ||= History.new(configuration.history, @log)

      # Alerts (MIDDLE_MANAGEMENT_ALERT_AFTER, _ALERT_WEBHOOK_URL), for the
      # coordinator thread; started with the dispatcher, whose thread posts them.
      attr_reader :alerter

      # This process is long-running (a web server, a worker): it decides now
      # and looks at the queue every COUNT_INTERVAL, so that work scheduled by
      # processes that have gone is still served. Once per process.
      def watch
        return if @watching == Process.pid

        @watching = Process.pid
        (dispatcher = self.dispatcher) && dispatcher.watch
      rescue StandardError => e
        @log.failure("could not start watching", e)
      end

      def watching? = @watching == Process.pid

      # This worker's dyno is numbered above what the work needs: it should
      # take no new job (see Worker::Drain).
      def draining?(fresh: false)
        return false if disabled_reason

        (@drain ||= Worker::Drain.new(self, @log)).draining?(fresh: fresh)
      end

      # A job worker of this process, by the name its locks carry (Delayed
      # Job's): its heartbeat lets the app take its jobs back if it dies.
      def register_worker(name)
        heartbeat.add(name) unless disabled_reason
      end

      # Every pool decides now and checks that Heroku has what the app's
      # record says (rake middle_management:scale), waiting up to `timeout`.
      def decide_now(timeout = 10.0)
        dispatcher = self.dispatcher or return false
        dispatcher.check
        flush(timeout, looks: true) # a window that opens within the timeout is waited for
      end

      # Decides and sends what is pending now, waiting up to `timeout`
      # seconds for Heroku to confirm it (`looks`: and for the looks due
      # meanwhile), and records Heroku's answers in the store before it
      # returns. False when that did not happen in time.
      def flush(timeout = 5.0, looks: false)
        dispatcher = current_dispatcher or return true
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        delivered = dispatcher.flush(timeout.to_f, looks)
        raised = @alerter&.raised
        recorded = @coordinator ? @coordinator.finish(deadline + FINISH_GRACE) : true
        post_alerts(dispatcher, deadline) if @alerter && @alerter.raised != raised
        delivered && recorded
      end

      # What the process knows (see Status); `exact`: count every runnable
      # job now, on the caller's thread, for a console or a dashboard.
      def status(exact: false)
        base = { enabled: disabled_reason.nil?, disabled_reason: disabled_reason }
        dispatcher = current_dispatcher or return base.merge(pools: [], calls: 0, errors: 0)
        status = Status.new(dispatcher.status, @decision, pools: @pools, store: @store, measuring: measuring,
                            recount: exact && method(:count))
        base.merge(status.to_h)
      end

      # The counts of every library for `pool` (Backends.count), on the
      # coordinator thread; nil when none could count.
      def count(pool, cap: nil) = Backends.count(@backends, pool, cap: cap, log: @log)

      # The app's coordination store, chosen on first use (on the coordinator
      # thread: it may query the database).
      def store
        @store ||= Store.choose(@backends, app: configuration.heroku_app.to_s, log: @log)
      end

      # The store once a decision chose it, else nil: what is measured waits for it.
      def chosen_store = @store

      def stop
        @mutex.synchronize do
          next unless @pid == Process.pid

          @coordinator&.stop
          @dispatcher&.shutdown
          @heartbeat&.stop
          @pid = @dispatcher = @coordinator = @decision = @heartbeat = nil
        end
      end

      # Delivers what this process has to say before it goes, within
      # EXIT_TIMEOUT: its decisions, Heroku's answers recorded. What Heroku has
      # not confirmed is left in the store as news, for the app's next
      # decision (another process's, or the Scheduler task's).
      def at_exit_flush
        @measuring&.at_exit(@store)
        return if flush(EXIT_TIMEOUT)

        shared = @store && !@store.is_a?(Store::Local)
        @store.leave_news if shared
        left = shared ? "; it is left in the store for the app's next decision" : ""
        @log.warn(if change_unconfirmed? || !@decision&.left_news? then "exiting before Heroku confirmed the last change#{left}"
                  else "exiting with news undecided#{left}"
                  end)
      rescue StandardError => e
        @log.failure("could not deliver the last change at exit", e)
      end

      # The dispatcher of this process, started on first use and again in a
      # forked child (the parent's belongs to the parent).
      def dispatcher
        return @dispatcher if @pid == Process.pid
        return nil if disabled_reason

        @mutex.synchronize { start unless @pid == Process.pid || @start_failure }
        @dispatcher
      end

      private

      # Heroku's last answers raised an alert: its POST goes out before the
      # process does (a flush waits for the alerts on their way), within the deadline.
      def post_alerts(dispatcher, deadline)
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        dispatcher.flush(left, false) if left.positive?
      end

      # A call was asked of Heroku and not answered, or its last call failed.
      def change_unconfirmed?
        current_dispatcher&.status&.fetch(:pools)&.any? do |pool|
          pool[:unconfirmed] || (pool[:last_result] && pool[:last_result] != "ok")
        end
      end

      def current_dispatcher
        @dispatcher if @pid == Process.pid
      end

      def heartbeat
        @heartbeat ||= Worker::Heartbeat.new(@backends, every: configuration.worker_timeout / 4, log: @log)
      end

      def start
        # A forked child: the parent's in-process store (and its locks) and its workers are not ours.
        @store = @heartbeat = nil if @pid
        busy_lag = Backends.busy_lag(@backends, scale_down_delay: configuration.scale_down_delay, log: @log)
        @dispatcher = start_dispatcher(busy_lag) or return
        @alerter = Alerter.new(after: configuration.alert_after, max_workers: @pools.to_h { |pool| [pool.name, pool.max] },
                               history: history, dispatcher: @dispatcher, log: @log)
        @decision = Decision.new(self, @dispatcher, configuration, @log)
        @coordinator = Coordinator.new(self, @dispatcher, @decision, @log)
        @pid = Process.pid
        @pools.each { |pool| @log.info(pool.capped_note) if pool.capped_note }
      end

      # Settings are checked at boot; should the native side refuse them all
      # the same, the gem says so once and stands down (status says why)
      # rather than failing at every enqueue.
      def start_dispatcher(busy_lag)
        Internal::Native::Dispatcher.new(configuration.native_settings(scale_down_at_least: busy_lag))
      rescue Error => e
        @start_failure = "the dispatcher could not start: #{e.message}"
        @log.failure("could not start; no workers are scaled", e)
        nil
      end

      def pool_index(queue)
        return 0 if @pools.size == 1

        @queue_pools.fetch(queue) do
          index = @pools.index { |pool| pool.covers?(queue) } || 0
          @queue_pools[queue] = index if @queue_pools.size < QUEUES_REMEMBERED
          index
        end
      end

      def announce_disabled
        @log.info("disabled: #{disabled_reason}; jobs are enqueued as usual and no workers are scaled")
      end
    end
  end
end
