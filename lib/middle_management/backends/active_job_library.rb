require "middle_management/backends/active_job_events"
require "middle_management/backends/backend"
require "middle_management/backends/recurring"

module MiddleManagement
  module Backends
    # What GoodJob's and Solid Queue's adapters share (each `extend`s it,
    # and so Backend): Active Job's events as their hooks, their job adapter
    # known by the class name in `ADAPTER` (nothing is loaded to ask), the
    # store and the workers' heartbeats in the database of their `model`.
    module ActiveJobLibrary
      include Backend

      # Whether Active Job `adapter` (an instance) is this library's.
      def adapter?(adapter) = adapter.class.ancestors.any? { |ancestor| ancestor.name == self::ADAPTER }

      def store(_app)
        sql = Store::SQL.new(model)
        sql.installed? ? sql : nil
      end

      # This process's workers are alive (Worker::Heartbeat).
      def beat(names) = heartbeats&.beat(names)

      def heartbeats = Store::Heartbeats.installed_for(model)

      private

      def hook(agent)
        agent.add_backend(self)
        ActiveJobEvents.install(self)
      end
    end
  end
end
