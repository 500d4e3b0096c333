module MiddleManagement
  module Backends
    # Resque (2.x and 3.x). Installing needs no change to job classes:
    #
    # - Enqueue: Resque.push, which Resque.enqueue, Resque::Job.create and
    #   plugins all end in, once Redis took the job (an enqueue a
    #   before_enqueue hook stopped, or that Redis refused, wakes nobody);
    #   Resque::Job.destroy gives jobs back.
    # - The worker, in the long-lived parent process: a job starting
    #   (Worker#working_on) and ending (#done_working, also when its child
    #   died) wake the dispatcher; a worker is long-running from #startup.
    #   A job that enqueues more in its forked child wakes the child's own
    #   dispatcher, which decides under the app's lease like any process; if
    #   the child leaves (with exit!) first, the parent's wake when the job
    #   ends counts what it enqueued.
    #
    # Counts come from Redis: queue lengths, and the workers Resque lists as
    # working, minus those whose heartbeat expired (killed without
    # unregistering). Core Resque schedules nothing, so there is no next run.
    # The store is Resque's Redis.
    module Resque
      @install_lock = Mutex.new

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

        def count(pool)
          queues = pool.queues || ::Resque.queues.select { |queue| pool.covers?(queue) }
          runnable = queues.sum { |queue| ::Resque.size(queue) }
          Counts.new(runnable: runnable, running: working(pool), next_run_in: nil)
        end

        # Resque.redis is a DataStore around a Redis::Namespace: the store
        # keeps its keys outside Resque's namespace, on the client beneath.
        def store(app)
          Store::Redis.new(app) { |&block| block.call(::Resque.redis.redis) }
        end

        # --- hooks (never raise into Resque) ------------------------------

        def wake(queue)
          MiddleManagement.agent&.wake(queue.to_s)
        rescue StandardError => e
          MiddleManagement.agent&.log_failure("could not wake for a Resque job change", e)
        end

        private

        def working(pool)
          expired = expired_workers
          ::Resque.working.count do |worker|
            job = worker.job(false)
            job.is_a?(Hash) && pool.covers?(job["queue"].to_s) && !expired.include?(worker.to_s)
          end
        end

        def expired_workers
          return [] unless ::Resque::Worker.respond_to?(:all_workers_with_expired_heartbeats)

          ::Resque::Worker.all_workers_with_expired_heartbeats.map(&:to_s)
        end
      end

      # Prepended to Resque's singleton class.
      module EnqueueHook
        def push(queue, item)
          result = super
          MiddleManagement::Backends::Resque.wake(queue)
          result
        end
      end

      # Prepended to Resque::Job's singleton class.
      module DestroyHook
        def destroy(queue, klass, *args)
          destroyed = super
          MiddleManagement::Backends::Resque.wake(queue) if destroyed.is_a?(Integer) && destroyed.positive?
          destroyed
        end
      end

      # Prepended to Resque::Worker.
      module WorkerHook
        def startup(*args, **options)
          super
        ensure
          MiddleManagement.watch
        end

        def working_on(job)
          result = super
          @middle_management_queue = job.queue
          MiddleManagement::Backends::Resque.wake(job.queue)
          result
        end

        def done_working
          super
        ensure
          queue = @middle_management_queue
          @middle_management_queue = nil
          MiddleManagement::Backends::Resque.wake(queue) if queue
        end
      end
    end
  end
end
