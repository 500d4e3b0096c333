require "time"
require "middle_management/backends/resque/hooks"
require "middle_management/worker/dyno"
require "middle_management/backends/backend"

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
    #   ends counts what it enqueued. A worker's host name is its dyno's
    #   (so its id says which dyno works a job), and it reserves no job while
    #   its dyno drains.
    #
    # Counts come from Redis: queue lengths, and the workers Resque lists as
    # working, minus those whose heartbeat expired (killed without
    # unregistering). Core Resque schedules nothing, so there is no next run.
    # The store is Resque's Redis.
    module Resque
      extend Backend

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

        # List lengths cost the same at any length: `cap` is not needed.
        # Queues before workers, the order jobs move (a worker pops a job,
        # then says it works it): a job moving meanwhile is seen twice at
        # worst, never by neither.
        def count(pool, cap: nil)
          queues = pool.queues || ::Resque.queues.select { |queue| pool.covers?(queue) }
          runnable = queues.sum { |queue| ::Resque.size(queue) }
          busy = working(pool)
          Counts.new(runnable: runnable, running: busy.size, next_run_in: nil, busy_dynos: busy)
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

        # The dyno of each worker working a job of the pool ("host:pid:queues").
        def working(pool)
          expired = expired_workers
          busy = ::Resque.working.select do |worker|
            job = worker.job(false)
            job.is_a?(Hash) && pool.covers?(job["queue"].to_s) && !expired.include?(worker.to_s)
          end
          busy.map { |worker| Worker::Dyno.parse(worker.to_s.split(":").first)&.name }
        end

        # Workers killed without unregistering: their heartbeat (every
        # Resque.heartbeat_interval, 60 s) missed twice, or WORKER_TIMEOUT if
        # longer, rather than Resque's own prune_interval (5 minutes).
        def expired_workers
          return [] unless ::Resque::Worker.respond_to?(:all_heartbeats)

          timeout = MiddleManagement.agent&.configuration&.worker_timeout.to_f
          limit = [2 * ::Resque.heartbeat_interval, timeout].max
          now = ::Resque.data_store.server_time
          ::Resque::Worker.all_heartbeats.select { |_id, beat| beat && now - Time.parse(beat) > limit }.keys
        end
      end
    end
  end
end
