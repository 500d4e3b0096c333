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
