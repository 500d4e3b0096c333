require "middle_management/backends/sidekiq/counting"

module MiddleManagement
  module Backends
    # Sidekiq (6.x and 7.x). Installing needs no change to job classes:
    #
    # - Enqueue: Sidekiq::Client#raw_push, the one place every push goes
    #   through (perform_async, perform_in/perform_at, push_bulk, ActiveJob,
    #   the poller moving due scheduled and retry jobs), *after* the client
    #   middleware has run and *once Redis took the jobs*: a push that a
    #   middleware stopped, or that Redis refused, wakes nobody.
    # - Server middleware: a job starting or ending wakes the dispatcher (a
    #   failure Sidekiq will retry says when the retry is due); a Sidekiq
    #   process is long-running from its startup event.
    #
    # Counts: see Sidekiq::Counting. The store is Sidekiq's Redis.
    module Sidekiq
      DEFAULT_MAX_RETRIES = 25 # Sidekiq::JobRetry::DEFAULT_MAX_RETRY_ATTEMPTS

      @install_lock = Mutex.new
      # This process's running jobs (jid => queue), for the moment before its
      # heartbeat shows them. Each change is one Hash operation.
      @running = {}

      class << self
        def available?
          defined?(::Sidekiq::Client) ? true : false
        end

        # Idempotent: each hook goes in once, whatever the number of boots.
        def install(agent)
          agent.add_backend(self)
          @install_lock.synchronize do
            require "sidekiq/api"
            ::Sidekiq::Client.prepend(ClientHook) unless ::Sidekiq::Client <= ClientHook
            ::Sidekiq.configure_server do |config| # in a Sidekiq process only
              config.server_middleware { |chain| chain.add(ServerMiddleware) unless chain.exists?(ServerMiddleware) }
              config.on(:startup) { MiddleManagement.watch } # watching is once per process, however often booted
            end
          end
        end

        def store(app)
          Store::Redis.new(app) { |&block| ::Sidekiq.redis(&block) }
        end

        def count(pool)
          Counting.count(pool, running_here: @running.values)
        end

        # --- hooks (never raise into Sidekiq) ------------------------------

        # Jobs Redis accepted from one push (payloads as built before the push).
        def pushed(jobs)
          agent = MiddleManagement.agent or return
          now = Time.now.to_f
          jobs.group_by { |job| job["queue"] }.each do |queue, queued|
            later = queued.filter_map { |job| job["at"] && job["at"].to_f - now }.select(&:positive?)
            agent.wake(queue, due_in: later.min) if later.any?
            agent.wake(queue) if later.size < queued.size
          end
        rescue StandardError => e
          report(agent, "could not wake for a Sidekiq push", e)
        end

        def started(job, queue)
          @running[job["jid"]] = queue
          MiddleManagement.agent&.wake(queue)
        rescue StandardError => e
          report(MiddleManagement.agent, "could not wake for a Sidekiq job starting", e)
        end

        # `error`: what the job raised, if anything.
        def finished(job, queue, error)
          @running.delete(job["jid"])
          agent = MiddleManagement.agent or return
          retry_in = error && !shutdown?(error) && retry_in(job)
          agent.wake(job["retry_queue"] || queue, due_in: retry_in) if retry_in
          agent.wake(queue)
        rescue StandardError => e
          report(agent, "could not wake for a Sidekiq job ending", e)
        end

        private

        # Seconds until Sidekiq retries a failed job, at the earliest: its
        # default backoff without the random part. Nil when it will not.
        def retry_in(job)
          retry_option = job["retry"]
          return nil unless retry_option

          max = retry_option.is_a?(Integer) ? retry_option : max_retries
          count = job["retry_count"] ? job["retry_count"] + 1 : 0
          count < max ? (count**4) + 15 : nil
        end

        def max_retries
          option(:max_retries) || DEFAULT_MAX_RETRIES
        end

        # A Sidekiq setting: Sidekiq.default_configuration in 7, Sidekiq[]
        # from 6.5, Sidekiq.options before.
        def option(name)
          if ::Sidekiq.respond_to?(:default_configuration) then ::Sidekiq.default_configuration[name]
          elsif ::Sidekiq.respond_to?(:[]) then ::Sidekiq[name]
          else ::Sidekiq.options[name]
          end
        end

        def shutdown?(error)
          defined?(::Sidekiq::Shutdown) && error.is_a?(::Sidekiq::Shutdown)
        end

        def report(agent, what, error)
          agent&.log_failure(what, error)
        end
      end

      # Prepended to Sidekiq::Client.
      module ClientHook
        private

        def raw_push(payloads)
          # Sidekiq deletes "at" from the payloads as it pushes them.
          jobs = payloads.map { |job| { "queue" => job["queue"], "at" => job["at"] } }
          result = super
          Sidekiq.pushed(jobs) unless defined?(::Sidekiq::Testing) && ::Sidekiq::Testing.inline?
          result
        end
      end

      # Sidekiq server middleware.
      class ServerMiddleware
        def call(_worker, job, queue)
          Sidekiq.started(job, queue)
          yield
        rescue Exception => e # rubocop:disable Lint/RescueException -- Sidekiq::Shutdown is not a StandardError
          error = e
          raise
        ensure
          Sidekiq.finished(job, queue, error)
        end
      end
    end
  end
end
