module MiddleManagement
  module Backends
    module Sidekiq
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
    end
  end
end
