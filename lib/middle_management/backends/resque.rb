require "json"

module MiddleManagement
  module Backends
    # Resque (2.x and 3.x). Installing needs no change to job classes:
    #
    # - Enqueue: Resque.push, which Resque.enqueue, Resque::Job.create and
    #   plugins all end in, once Redis took the job (an enqueue a
    #   before_enqueue hook stopped, or that Redis refused, hires nobody).
    #   Resque::Job.destroy gives jobs back.
    # - The worker, in the long-lived parent process: Worker#working_on (a
    #   job starts: runnable -1, running +1) and #done_working (it finished or
    #   failed, or its child died: running -1), both of which Resque calls
    #   around the fork; a worker that finds nothing to do pokes.
    # - A forked child (one per job) decides nothing: each change the job's
    #   own code reports (it enqueues more jobs, say) goes down a pipe to the
    #   parent as it happens, where a thread records it at once. So a busy
    #   worker makes its formation calls from one dispatcher, one per
    #   throttle window, nothing is lost when the child leaves with exit!, and
    #   a change reaches the counts as soon as it would without the fork.
    #
    # Counts come from Redis: queue lengths, and the workers Resque lists as
    # working, minus those whose heartbeat expired (killed without
    # unregistering). Core Resque schedules nothing, so there is no next run.
    module Resque
      STATE = :@middle_management_job # on a Resque::Worker: the job it is working on
      RELAY_TIMEOUT = 1.0 # seconds the parent waits for the rest of what a dead child sent

      @install_lock = Mutex.new
      @relay = nil # in a forked child: the pipe to the parent

      class << self
        def available?
          defined?(::Resque::Worker) && defined?(::Resque::Job) ? true : false
        end

        def install(agent)
          agent.add_backend(self)
          @install_lock.synchronize do
            next if @installed

            ::Resque.singleton_class.prepend(EnqueueHook)
            ::Resque::Job.singleton_class.prepend(DestroyHook)
            ::Resque::Worker.prepend(WorkerHook)
            @installed = true
          end
        end

        # How many jobs one dyno runs at once is however many Resque workers
        # its process type starts (COUNT, resque-pool): unknown here.
        def concurrency
          nil
        end

        def count(pool)
          queues = pool.queues || ::Resque.queues.select { |queue| pool.covers?(queue) }
          runnable = queues.sum { |queue| ::Resque.size(queue) }
          Counts.new(runnable: runnable, running: working(pool), next_run_in: nil)
        end

        # --- hooks (never raise into Resque) -------------------------------

        def pushed(queue)
          MiddleManagement.agent&.record(queue.to_s, runnable: 1)
        rescue StandardError => e
          report("could not record a Resque enqueue", e)
        end

        def destroyed(queue, count)
          MiddleManagement.agent&.record(queue.to_s, runnable: -count) if count.is_a?(Integer) && count.positive?
        rescue StandardError => e
          report("could not record Resque jobs destroyed", e)
        end

        # In the worker, once Redis shows it working on `job` (before any
        # fork): a count that sees it there takes the start as counted.
        def started(worker, job)
          state = { queue: job.queue.to_s, pid: Process.pid }
          listen(state) if worker.fork_per_job?
          worker.instance_variable_set(STATE, state)
          MiddleManagement.agent&.record(state[:queue], runnable: -1, running: 1)
        rescue StandardError => e
          report("could not record a Resque job starting", e)
        end

        # In the worker, after the job (and its child) ended and Redis
        # stopped showing it working: what the child sent, then the end.
        def finished(worker)
          state = worker.instance_variable_get(STATE) or return
          worker.instance_variable_set(STATE, nil)
          hang_up(state)
          MiddleManagement.agent&.record(state[:queue], running: -1)
        rescue StandardError => e
          report("could not record a Resque job ending", e)
        end

        def idle
          MiddleManagement.agent&.poke
        rescue StandardError => e
          report("could not poke the dispatcher", e)
        end

        # Runs the job in a forked child with the agent relaying to the parent.
        def in_child(worker)
          state = worker.instance_variable_get(STATE)
          agent = MiddleManagement.agent
          if state && state[:writer] && state[:pid] != Process.pid && agent
            begin
              state[:reader].close
              @relay = state[:writer]
              agent.singleton_class.prepend(RelayingAgent) unless agent.singleton_class <= RelayingAgent
            rescue StandardError => e
              report("could not relay from a Resque child", e)
            end
          end
          yield
        end

        # In a child: one change, one line to the parent (a line this short
        # is written whole). Never waits: a parent that stopped reading
        # loses the change, and its next count finds it.
        def relay(queue, runnable, running, due_in)
          due_at = due_in && Time.now.to_f + due_in.to_f
          @relay&.write_nonblock("#{JSON.generate([queue.to_s, runnable.to_i, running.to_i, due_at])}\n", exception: false)
          nil
        rescue StandardError
          nil
        end

        private

        def working(pool)
          expired = expired_workers
          ::Resque.working.count do |worker|
            job = worker.job(false)
            job.is_a?(Hash) && pool.covers?(job["queue"].to_s) && !expired.include?(worker.to_s)
          end
        end

        # Workers killed without unregistering stay listed as working until
        # pruned; Resque knows them by their expired heartbeat.
        def expired_workers
          return [] unless ::Resque::Worker.respond_to?(:all_workers_with_expired_heartbeats)

          ::Resque::Worker.all_workers_with_expired_heartbeats.map(&:to_s)
        end

        # In the parent, before the fork: a pipe for the child, and a thread
        # recording each change it sends as it arrives.
        def listen(state)
          reader, writer = IO.pipe
          state[:reader] = reader
          state[:writer] = writer
          state[:listener] = Thread.new do
            reader.each_line { |line| replay(line) }
          rescue IOError, SystemCallError
            nil # closed by #hang_up
          end
          state[:listener].name = "middle_management resque relay"
          state[:listener].report_on_exception = false
        end

        # After the child exited: the rest of what it sent, then the pipe closed.
        def hang_up(state)
          return unless state[:listener]

          state[:writer].close unless state[:writer].closed?
          # EOF once the child is gone, unless a process it started holds the pipe.
          state[:listener].join(RELAY_TIMEOUT) or state[:listener].kill
        ensure
          state[:reader].close if state[:reader] && !state[:reader].closed?
        end

        def replay(line)
          queue, runnable, running, due_at = JSON.parse(line)
          due_in = due_at && [due_at - Time.now.to_f, 0.0].max
          MiddleManagement.agent&.record(queue, runnable: runnable, running: running, due_in: due_in)
        rescue StandardError => e
          report("could not record a change relayed from a Resque child", e)
        end

        def report(what, error)
          MiddleManagement.agent&.log_failure(what, error)
        end
      end

      # Prepended to Resque's singleton class.
      module EnqueueHook
        def push(queue, item)
          result = super
          MiddleManagement::Backends::Resque.pushed(queue)
          result
        end
      end

      # Prepended to Resque::Job's singleton class.
      module DestroyHook
        def destroy(queue, klass, *args)
          destroyed = super
          MiddleManagement::Backends::Resque.destroyed(queue, destroyed)
          destroyed
        end
      end

      # Prepended to Resque::Worker.
      module WorkerHook
        def working_on(job)
          result = super
          MiddleManagement::Backends::Resque.started(self, job)
          result
        end

        # After Redis stops showing the job: a count that still saw it must
        # not also take its end as counted.
        def done_working
          super
        ensure
          MiddleManagement::Backends::Resque.finished(self)
        end

        # A worker leaving with a job it never finished (its loop raised).
        def unregister_worker(*args, **options)
          super
        ensure
          MiddleManagement::Backends::Resque.finished(self)
        end

        def perform(job, &block)
          MiddleManagement::Backends::Resque.in_child(self) { super(job, &block) }
        end

        def reserve(*args, **options)
          job = super
          MiddleManagement::Backends::Resque.idle unless job
          job
        end
      end

      # Prepended to the agent's singleton class in a forked child only.
      module RelayingAgent
        def record(queue, runnable: 0, running: 0, due_in: nil)
          MiddleManagement::Backends::Resque.relay(queue, runnable, running, due_in)
        end

        def poke
          nil
        end
      end
    end
  end
end
