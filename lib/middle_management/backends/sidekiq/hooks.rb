module MiddleManagement
  module Backends
    module Sidekiq
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

      # Prepended to Sidekiq::BasicFetch, in Sidekiq processes: while the
      # process's dyno drains it fetches nothing (a job fetched as the app
      # decided to drain goes straight back, to the front of its queue).
      module FetchHook
        IDLE = 1 # seconds to wait before asking again, as BasicFetch waits with no queue

        def retrieve_work
          return idle if MiddleManagement.draining?

          work = super
          return work unless work && MiddleManagement.draining?(fresh: true)

          work.requeue
          idle
        end

        private

        def idle
          sleep(IDLE)
          nil
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
